package ctl

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
)

// Dialer opens a way to a pod's agent admin API. The agent listens on the
// pod's loopback only; the real Dialer goes through the API server's
// pods/portforward, so who may reach it is plain RBAC. Tests dial local
// agent processes instead.
type Dialer interface {
	// Dial returns the agent's base URL, valid until closeFn is called.
	Dial(ctx context.Context, pod *corev1.Pod) (baseURL string, closeFn func(), err error)
}

// PortForward is the Dialer of `kubectl port-forward`: a WebSocket tunnel
// to the API server, falling back to SPDY for servers older than 1.30,
// listening on an ephemeral port of 127.0.0.1.
type PortForward struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Log receives forwarding errors (e.g. nothing listening in the pod);
	// nil discards them.
	Log *slog.Logger
}

var _ Dialer = (*PortForward)(nil)

// Dial starts a port-forward to pod's admin port. It ends with closeFn or
// with ctx.
func (p *PortForward) Dial(ctx context.Context, pod *corev1.Pod) (string, func(), error) {
	port, err := AdminPort(pod)
	if err != nil {
		return "", nil, err
	}
	u := p.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer, err := p.streamDialer(u)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to pod %s: %w", podKey(pod), err)
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("pod", podKey(pod), "port", port)
	fctx, cancel := context.WithCancel(klog.NewContext(ctx, logr.FromSlogHandler(log.Handler())))
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreamingWithContext(fctx, dialer, []string{"127.0.0.1"}, []string{":" + strconv.Itoa(port)}, ready, nil, nil)
	if err != nil {
		cancel()
		return "", nil, fmt.Errorf("port-forward to pod %s: %w", podKey(pod), err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("port-forward to pod %s: %w", podKey(pod), err)
	case <-ctx.Done():
		cancel()
		return "", nil, fmt.Errorf("port-forward to pod %s: %w", podKey(pod), ctx.Err())
	}
	closeFn := func() {
		cancel()
		<-done
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		closeFn()
		return "", nil, fmt.Errorf("port-forward to pod %s: no local port: %v", podKey(pod), err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0].Local), closeFn, nil
}

// streamDialer is kubectl's: WebSocket first, SPDY when the server cannot
// upgrade to WebSockets (or a proxy is in the way). The WebSocket dialer
// reports a refused upgrade with k8s.io/streaming's UpgradeFailureError,
// which only that package's IsUpgradeFailure matches (apimachinery's
// deprecated copy of it never did, so there was no fallback).
func (p *PortForward) streamDialer(u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(p.Config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, p.Config)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialerForStreaming(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}
