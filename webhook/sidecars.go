package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// NativeSidecars modes: decide from the API server's version, or force.
const (
	NativeSidecarsAuto  = "auto"
	NativeSidecarsTrue  = "true"
	NativeSidecarsFalse = "false"
)

// nativeSidecarsSince is the first release with sidecar containers
// (restartPolicy Always on init containers) on by default.
var nativeSidecarsSince = version.MajorMinor(1, 29)

// SupportsNativeSidecars reports whether a server of this version runs
// native sidecars.
func SupportsNativeSidecars(info *apiversion.Info) (bool, error) {
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil {
		return false, fmt.Errorf("api server version %q: %w", info.GitVersion, err)
	}
	return v.AtLeast(nativeSidecarsSince), nil
}

// resolveNativeSidecars applies the mode, asking the API server only in
// auto mode.
func resolveNativeSidecars(mode string, cfg *rest.Config) (bool, error) {
	switch mode {
	case NativeSidecarsTrue:
		return true, nil
	case NativeSidecarsFalse:
		return false, nil
	case NativeSidecarsAuto, "":
	default:
		return false, fmt.Errorf("native sidecars mode %q: want auto, true or false", mode)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("native sidecars: discovery client: %w", err)
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("native sidecars: read api server version: %w", err)
	}
	return SupportsNativeSidecars(info)
}
