package webhook

import (
	"testing"

	apiversion "k8s.io/apimachinery/pkg/version"
)

func TestSupportsNativeSidecars(t *testing.T) {
	tests := []struct {
		version string
		want    bool
		wantErr bool
	}{
		{version: "v1.28.9", want: false},
		{version: "v1.29.0", want: true},
		{version: "v1.29.3-gke.1282001", want: true},
		{version: "v1.37.2", want: true},
		{version: "v2.0.0", want: true},
		{version: "v1.27.4+k3s1", want: false},
		{version: "garbage", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			got, err := SupportsNativeSidecars(&apiversion.Info{GitVersion: tc.version})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("SupportsNativeSidecars(%s) = %v, want %v", tc.version, got, tc.want)
			}
		})
	}
}

func TestResolveNativeSidecarsForced(t *testing.T) {
	for mode, want := range map[string]bool{NativeSidecarsTrue: true, NativeSidecarsFalse: false} {
		// nil rest config: a forced mode never asks the API server.
		got, err := resolveNativeSidecars(mode, nil)
		if err != nil || got != want {
			t.Errorf("mode %s: got %v, %v; want %v", mode, got, err, want)
		}
	}
	if _, err := resolveNativeSidecars("sometimes", nil); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
