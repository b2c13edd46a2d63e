package injector

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tradepulse/secret-injector/agent/config"
)

// backendKeys are the keys that only mean something for one backend.
var backendKeys = map[string][]string{
	config.BackendVault: {AnnotationVaultAddress, AnnotationVaultAuthPath, AnnotationVaultRole,
		AnnotationVaultAuthMethod, AnnotationVaultNamespace, AnnotationVaultRevokeOnShutdown},
	config.BackendGCP: {AnnotationGCPProject},
	config.BackendAWS: {AnnotationAWSRegion, AnnotationAWSRoleARN},
}

// backend picks the backend and fills its block from the cluster defaults
// and the pod's overrides.
func (p *parser) backend() config.Backend {
	b, ok := p.ann[AnnotationBackend]
	if !ok {
		b = p.opts.DefaultBackend
	}
	switch {
	case !slices.Contains(config.Backends, b):
		p.add(AnnotationBackend, "%s is not one of %s", quote(b), strings.Join(config.Backends, ", "))
		return config.Backend{Type: b}
	case !slices.Contains(p.opts.EnabledBackends, b):
		p.add(AnnotationBackend, "%s is not enabled in this cluster; enabled: %s", quote(b), strings.Join(p.opts.EnabledBackends, ", "))
		return config.Backend{Type: b}
	}
	for owner, keys := range backendKeys {
		if owner == b {
			continue
		}
		for _, k := range keys {
			if _, set := p.ann[k]; set {
				p.add(k, "only used with backend %s; this pod's backend is %s", owner, b)
			}
		}
	}
	out := config.Backend{Type: b}
	switch b {
	case config.BackendVault:
		out.Vault = p.vault()
	case config.BackendGCP:
		out.GCP = &config.GCPBackend{Project: p.value(AnnotationGCPProject, p.opts.GCPProject, gcpProjectProblem),
			Endpoint: p.opts.GCPEndpoint, Insecure: p.opts.GCPInsecure}
	case config.BackendAWS:
		out.AWS = &config.AWSBackend{Region: p.value(AnnotationAWSRegion, p.opts.AWSRegion, awsRegionProblem),
			Endpoint: p.opts.AWSEndpoint, RoleARN: p.awsRole()}
	case config.BackendEnv:
		// In a cluster the env backend is for tests and kind clusters: the
		// .env file comes from a pod volume named secret-injector-env (a
		// ConfigMap or Secret), which Inject mounts into the agent.
		out.Env = &config.EnvBackend{Files: []string{EnvFile}}
	}
	return out
}

// value reads an optional annotation checked by problem, or def.
func (p *parser) value(key, def string, problem func(string) string) string {
	v, ok := p.ann[key]
	if !ok {
		return def
	}
	if r := problem(v); r != "" {
		p.add(key, "%s", r)
	}
	return v
}

func (p *parser) vault() *config.VaultBackend {
	d := p.opts.Vault
	v := &config.VaultBackend{
		Address:   d.Address,
		Role:      p.value(AnnotationVaultRole, d.Role, vaultRoleProblem),
		TokenPath: TokenPath,
	}
	p.vaultConn(v)
	if a, ok := p.ann[AnnotationVaultAddress]; ok {
		switch {
		case vaultAddressProblem(a) != "":
			p.add(AnnotationVaultAddress, "%s", vaultAddressProblem(a))
		case a != d.Address && !slices.Contains(d.AllowedAddresses, a):
			allowed := append([]string{}, d.AllowedAddresses...)
			if d.Address != "" {
				allowed = append([]string{d.Address}, allowed...)
			}
			p.add(AnnotationVaultAddress, "%s is not one of this cluster's Vault servers; allowed: %s", quote(a), orNone(allowed))
		default:
			v.Address = a
		}
	} else if d.Address == "" {
		p.add(AnnotationVaultAddress, "required with backend vault: this cluster sets no default Vault server")
	}
	if v.Role == "" {
		p.add(AnnotationVaultRole, "required with backend vault: this cluster sets no default role")
	}
	return v
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// reload reads how the app is told about new files.
func (p *parser) reload() (string, config.Notify) {
	v, ok := p.ann[AnnotationReload]
	switch {
	case !ok || v == ReloadNone:
		return ReloadNone, config.Notify{}
	case v == ReloadRestart:
		return ReloadRestart, config.Notify{}
	case strings.HasPrefix(v, ReloadSignalPrefix):
		sig, proc, _ := strings.Cut(strings.TrimPrefix(v, ReloadSignalPrefix), ":")
		if err := config.ValidateSignal(sig); err != nil {
			p.add(AnnotationReload, "signal %v; write signal:<SIGNAL>:<process-name>", err)
		}
		switch {
		case proc == "":
			p.add(AnnotationReload, "names no process; write signal:<SIGNAL>:<process-name>, e.g. \"signal:SIGHUP:nginx\"")
		case len(proc) > maxProcessLength || hasControl(proc) || strings.ContainsAny(proc, "/ "):
			p.add(AnnotationReload, "process name %s must be a program name: no '/', spaces or control characters, at most %d characters", quote(proc), maxProcessLength)
		}
		return "signal", config.Notify{Signal: sig, Process: proc}
	case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		if len(v) > maxURLLength || hasControl(v) || strings.ContainsRune(v, ' ') {
			p.add(AnnotationReload, "the URL must be at most %d characters, without spaces or control characters", maxURLLength)
		} else if err := config.ValidateLocalURL(v); err != nil {
			p.add(AnnotationReload, "%s", err.Error())
		} else if r := agentURLProblem(v); r != "" {
			p.add(AnnotationReload, "%s", r)
		}
		return "http", config.Notify{URL: v}
	}
	p.add(AnnotationReload, "%s is not one of none, restart, signal:<SIGNAL>:<process-name> or an http(s) URL on localhost", quote(v))
	return ReloadNone, config.Notify{}
}

// agentURLProblem denies a reload URL (already known to be on loopback)
// that points at the agent itself: the app shares the pod's network
// namespace with the agent, so 127.0.0.1:9101 is the agent's admin API,
// where each "reload" would refresh (and, for Vault leases, issue new
// credentials), and 9102 is its metrics port.
func agentURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%s is not a valid URL", quote(raw))
	}
	if u.Port() == "" {
		return "" // 80 or 443: never the agent's
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return fmt.Sprintf("%s has a port out of range", quote(raw))
	}
	switch port {
	case agentAdminPort:
		return fmt.Sprintf("%s is the agent's own admin API (port %d), not the app: each reload would make the agent fetch again and issue new credentials; give the app's own reload endpoint", quote(raw), port)
	case agentMetricsPort:
		return fmt.Sprintf("%s is the agent's own metrics port (%d), not the app; give the app's own reload endpoint", quote(raw), port)
	}
	return ""
}

// The agent's ports in the pod, from the addresses the injector writes into
// its config.
var (
	agentAdminPort   = addrPort(config.DefaultAdminAddr)
	agentMetricsPort = addrPort(config.DefaultMetricsAddr)
)

// addrPort is the port of a listen address such as "127.0.0.1:9101".
func addrPort(addr string) uint64 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		panic(fmt.Sprintf("injector: agent address %q: %v", addr, err))
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		panic(fmt.Sprintf("injector: agent address %q: %v", addr, err))
	}
	return n
}
