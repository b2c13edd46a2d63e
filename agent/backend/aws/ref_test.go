package aws

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRef(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tradepulse/db-AbCdEf"
	const uuid = "0b7f3c2e-5d4a-4f1e-9c8b-7a6d5e4f3c2b"
	tests := []struct {
		ref     string
		want    target
		wantErr bool
	}{
		{ref: "tradepulse/db", want: target{secretID: "tradepulse/db"}},
		{ref: "tradepulse/db#AWSPENDING", want: target{secretID: "tradepulse/db", stage: "AWSPENDING"}},
		{ref: "tradepulse/db#version-id=" + uuid, want: target{secretID: "tradepulse/db", versionID: uuid}},
		{ref: arn, want: target{secretID: arn}},
		{ref: arn + "#AWSPREVIOUS", want: target{secretID: arn, stage: "AWSPREVIOUS"}},
		{ref: arn + "#version-id=" + uuid, want: target{secretID: arn, versionID: uuid}},
		{ref: "", wantErr: true},
		{ref: "#AWSCURRENT", wantErr: true},
		{ref: "tradepulse/db#", wantErr: true},
		{ref: "tradepulse/db#a#b", wantErr: true},
		{ref: "tradepulse/db#version-id=", wantErr: true},
		{ref: "tradepulse/db#version-id=short", wantErr: true},
		{ref: "tradepulse/db#AWS CURRENT", wantErr: true},
		{ref: "trade pulse/db", wantErr: true},
		{ref: "tradepulse/db\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := parseRef(tt.ref)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRef(%q) error = %v, want error %v", tt.ref, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("parseRef(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"tradepulse/db", "a#AWSPENDING", "a#version-id=0b7f3c2e-5d4a-4f1e-9c8b-7a6d5e4f3c2b", "arn:aws:secretsmanager:r:1:secret:n-AbCdEf#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		got, err := parseRef(ref)
		if err != nil {
			return
		}
		// An accepted reference names a secret and at most one selector,
		// and rebuilding it gives the reference back.
		if got.secretID == "" || got.stage != "" && got.versionID != "" {
			t.Fatalf("parseRef(%q) = %+v", ref, got)
		}
		rebuilt := got.secretID
		switch {
		case got.stage != "":
			rebuilt += "#" + got.stage
		case got.versionID != "":
			rebuilt += "#" + versionIDSelector + got.versionID
		}
		if rebuilt != ref {
			t.Fatalf("parseRef(%q) rebuilds as %q", ref, rebuilt)
		}
	})
}
