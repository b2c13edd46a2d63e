package injector

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
)

// certAnnotations is a valid certificate pod on Vault: the base each row
// of TestCertificateDenials tweaks.
func certAnnotations() map[string]string {
	return map[string]string{
		AnnotationInject:                           "true",
		AnnotationBackend:                          "vault",
		AnnotationVaultRole:                        "web",
		AnnotationSecretPrefix + "web-tls":         "pki/int/issue/web",
		AnnotationCertCommonNamePrefix + "web-tls": "web.trading.svc",
		AnnotationCertAltNamesPrefix + "web-tls":   "web, web.trading ,*.web.trading.svc",
		AnnotationCertIPSANsPrefix + "web-tls":     "127.0.0.1,::1",
		AnnotationCertTTLPrefix + "web-tls":        "24h",
	}
}

func TestCertificateAnnotations(t *testing.T) {
	spec, err := Parse(certAnnotations(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got := spec.Config.Secrets[0]
	want := config.Certificate{
		CommonName: "web.trading.svc",
		AltNames:   []string{"web", "web.trading", "*.web.trading.svc"},
		IPSANs:     []string{"127.0.0.1", "::1"},
		TTL:        config.Duration(24 * time.Hour),
	}
	if got.Certificate == nil || got.Format != config.FormatJSON {
		t.Fatalf("secret %+v: want a certificate in format json", got)
	}
	if diff := cmp.Diff(want, *got.Certificate); diff != "" {
		t.Errorf("certificate (-want +got):\n%s", diff)
	}

	// Renames and templates work as for any JSON secret.
	ann := certAnnotations()
	ann[AnnotationFieldsPrefix+"web-tls"] = "cert.pem=tls.crt,key.pem=tls.key,ca.pem=ca.crt"
	if _, err := Parse(ann, testOptions()); err != nil {
		t.Errorf("fields on a certificate: %v", err)
	}
	ann = certAnnotations()
	ann[AnnotationFormatPrefix+"web-tls"] = "template"
	ann[AnnotationTemplatePrefix+"web-tls"] = `{{ index .Data "cert.pem" }}{{ index .Data "ca.pem" }}`
	if _, err := Parse(ann, testOptions()); err != nil {
		t.Errorf("a full-chain template: %v", err)
	}
	// A common name alone is enough.
	if _, err := Parse(map[string]string{
		AnnotationInject: "true", AnnotationBackend: "vault", AnnotationVaultRole: "web",
		AnnotationSecretPrefix + "tls": "pki/issue/web", AnnotationCertCommonNamePrefix + "tls": "web.trading.svc",
	}, testOptions()); err != nil {
		t.Errorf("common name only: %v", err)
	}
}

// TestCertificateDenials: one tweak per row, the whole denial compared.
func TestCertificateDenials(t *testing.T) {
	long := strings.Repeat("a", 70)
	many := strings.TrimSuffix(strings.Repeat("a.test,", config.MaxAltNames+1), ",")
	const del = "\x00"
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"backend", map[string]string{AnnotationBackend: "gcp", AnnotationVaultRole: del},
			`annotation secrets.tradepulse.io/cert-common-name-web-tls: certificates are issued by backend vault (its PKI engine); this pod's backend is gcp`},
		{"not an issuing path", map[string]string{AnnotationSecretPrefix + "web-tls": "secret/web-tls"},
			`annotation secrets.tradepulse.io/secret-web-tls: with cert-common-name-<name> annotations the reference must be a PKI issuing path, <mount>/issue/<role> (e.g. pki/issue/web)`},
		{"format raw", map[string]string{AnnotationFormatPrefix + "web-tls": "raw"},
			`annotation secrets.tradepulse.io/format-web-tls: a certificate is written as json (cert.pem, key.pem, ca.pem) or template, not raw`},
		{"common name with a space", map[string]string{AnnotationCertCommonNamePrefix + "web-tls": "web server"},
			`annotation secrets.tradepulse.io/cert-common-name-web-tls: "web server" is not a DNS name (labels hold only letters, digits and '-')`},
		{"common name too long", map[string]string{AnnotationCertCommonNamePrefix + "web-tls": long + ".test"},
			`annotation secrets.tradepulse.io/cert-common-name-web-tls: "` + long[:64] + `"… is longer than 64 characters, the most X.509 allows a common name`},
		{"alt name bad", map[string]string{AnnotationCertAltNamesPrefix + "web-tls": "web,-web.test"},
			`annotation secrets.tradepulse.io/cert-alt-names-web-tls: "-web.test" is not a DNS name (a label starts or ends with '-')`},
		{"alt names empty entry", map[string]string{AnnotationCertAltNamesPrefix + "web-tls": "web,,web.test"},
			`annotation secrets.tradepulse.io/cert-alt-names-web-tls: has an empty entry; write DNS names separated by single commas`},
		{"alt names too many", map[string]string{AnnotationCertAltNamesPrefix + "web-tls": many},
			`annotation secrets.tradepulse.io/cert-alt-names-web-tls: lists 33 DNS names; a certificate may have at most 32`},
		{"ip bad", map[string]string{AnnotationCertIPSANsPrefix + "web-tls": "10.0.0.1,10.0.0.256"},
			`annotation secrets.tradepulse.io/cert-ip-sans-web-tls: "10.0.0.256" is not an IP address such as 10.0.0.7 or fd00::7`},
		{"ip twice", map[string]string{AnnotationCertIPSANsPrefix + "web-tls": "10.0.0.1, 10.0.0.1"},
			`annotation secrets.tradepulse.io/cert-ip-sans-web-tls: "10.0.0.1" is listed twice`},
		{"ttl not a duration", map[string]string{AnnotationCertTTLPrefix + "web-tls": "1d"},
			`annotation secrets.tradepulse.io/cert-ttl-web-tls: "1d" is not a Go duration such as "24h" or "90m"`},
		{"ttl too short", map[string]string{AnnotationCertTTLPrefix + "web-tls": "500ms"},
			`annotation secrets.tradepulse.io/cert-ttl-web-tls: "500ms" is outside 1s to 87600h`},
		{"orphan", map[string]string{AnnotationCertTTLPrefix + "other": "1h"},
			`annotation secrets.tradepulse.io/cert-ttl-other: no secrets.tradepulse.io/secret-other annotation declares secret "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := certAnnotations()
			maps.Copy(ann, tc.set)
			maps.DeleteFunc(ann, func(_, v string) bool { return v == del })
			_, err := Parse(ann, testOptions())
			if err == nil {
				t.Fatal("admitted")
			}
			if err.Error() != tc.want {
				t.Errorf("denial:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}
