package config

import (
	"strings"
	"testing"
	"time"
)

func TestCertificateDefaultsToJSON(t *testing.T) {
	c, err := Parse([]byte(`{"version":"secrets.tradepulse.io/v1","backend":{"type":"vault"},"secrets":[
		{"name":"web-tls","ref":"pki/int/issue/web","certificate":{"commonName":"web.trading.svc","altNames":["*.web.trading.svc"],"ipSANs":["10.0.0.7","fd00::7"],"ttl":"24h"}}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Secrets[0]
	if s.Format != FormatJSON || s.Certificate.TTL != Duration(24*time.Hour) || len(s.Certificate.IPSANs) != 2 {
		t.Errorf("parsed %+v (certificate %+v), want format json and the request as written", s, s.Certificate)
	}
}

func TestCertificateProblems(t *testing.T) {
	long := strings.Repeat("a", 60) + ".example.test"
	many := `"` + strings.Repeat(`a.test","`, MaxAltNames) + `a.test"`
	for _, tc := range []struct {
		name, backend, secret string
		want                  string
	}{
		{"backend", "gcp", `"ref":"pki/issue/web","certificate":{"commonName":"a.test"}`, "certificate: certificates are issued by backend vault"},
		{"ref not issuing", "vault", `"ref":"secret/web","certificate":{"commonName":"a.test"}`, "ref: with certificate, must be a PKI issuing path"},
		{"ref with field", "vault", `"ref":"pki/issue/web#x","certificate":{}`, "must be a plain PKI issuing path"},
		{"format raw", "vault", `"ref":"pki/issue/web","format":"raw","certificate":{}`, "format: a certificate is written as json"},
		{"cn too long", "vault", `"ref":"pki/issue/web","certificate":{"commonName":"` + long + `"}`, "longer than 64 characters"},
		{"cn not a name", "vault", `"ref":"pki/issue/web","certificate":{"commonName":"web server"}`, `commonName: "web server" is not a DNS name`},
		{"alt name", "vault", `"ref":"pki/issue/web","certificate":{"altNames":["ok.test","-bad.test"]}`, `altNames[1]: "-bad.test" is not a DNS name`},
		{"too many alt names", "vault", `"ref":"pki/issue/web","certificate":{"altNames":[` + many + `]}`, "altNames: 33 names, more than 32"},
		{"ip", "vault", `"ref":"pki/issue/web","certificate":{"ipSANs":["10.0.0.300"]}`, `ipSANs[0]: "10.0.0.300" is not an IP address`},
		{"ip zone", "vault", `"ref":"pki/issue/web","certificate":{"ipSANs":["fe80::1%eth0"]}`, `is not an IP address`},
		{"ttl short", "vault", `"ref":"pki/issue/web","certificate":{"ttl":"500ms"}`, "ttl: 500ms is outside 1s to 87600h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(`{"version":"secrets.tradepulse.io/v1","backend":{"type":"`+tc.backend+`"},"secrets":[{"name":"web-tls",`+tc.secret+`}]}`), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestValidateCommonName(t *testing.T) {
	for _, ok := range []string{"web.trading.svc", "*.trading.svc", "localhost", "svc@tradepulse.io", "WEB.Example.test."} {
		if err := ValidateCommonName(ok); err != nil {
			t.Errorf("ValidateCommonName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a..b", "*", "web_1.test", "a@", "@a.test", "a b@c.test", "x.*.test", "web\n.test"} {
		if err := ValidateCommonName(bad); err == nil {
			t.Errorf("ValidateCommonName(%q) passed", bad)
		}
	}
}
