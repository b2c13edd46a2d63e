package gcp

import "testing"

// TestDefaultRegionalEndpoint: without an override, a location's secrets
// are read from Google's regional endpoint.
func TestDefaultRegionalEndpoint(t *testing.T) {
	if got, want := (Options{}).regionalEndpoint()("europe-west4"), "secretmanager.europe-west4.rep.googleapis.com:443"; got != want {
		t.Errorf("regional endpoint = %q, want %q", got, want)
	}
	override := Options{RegionalEndpoint: func(l string) string { return "psc-" + l + ":443" }}
	if got := override.regionalEndpoint()("us-east4"); got != "psc-us-east4:443" {
		t.Errorf("overridden regional endpoint = %q", got)
	}
}
