package ctl

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client-side rate limits: kubectl's, so that a run over a few hundred
// pods is not throttled to client-go's default of 5 requests a second.
const (
	clientQPS   = 50
	clientBurst = 100
)

// loadKubeconfig resolves --kubeconfig and --context the way kubectl does
// ($KUBECONFIG, then ~/.kube/config; in a pod, its service account) and
// returns the connection and the context's namespace.
func loadKubeconfig(o Options) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	cfg.UserAgent = "secret-injector-ctl"
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	return cfg, ns, nil
}
