package injector

import (
	"slices"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
)

// certKeys are the per-secret keys that make a secret a certificate, in
// the order their problems are reported.
var certKeys = []string{
	AnnotationCertCommonNamePrefix, AnnotationCertAltNamesPrefix,
	AnnotationCertIPSANsPrefix, AnnotationCertTTLPrefix,
}

// isCertificate reports whether any cert-* key is set for the secret.
func isCertificate(vals map[string]string) bool {
	for _, pre := range certKeys {
		if _, ok := vals[pre]; ok {
			return true
		}
	}
	return false
}

// certificate reads the cert-* keys of one secret into the agent
// config's request, with the agent config's own rules (config's
// validators), each problem naming its key. Names and durations are not
// secret values, so messages show them, cut short.
func (p *parser) certificate(s *config.Secret, vals map[string]string) {
	key := func(pre string) string { return pre + s.Name }
	c := &config.Certificate{}
	s.Certificate = c
	if p.be.Type != config.BackendVault {
		for _, pre := range certKeys {
			if _, ok := vals[pre]; ok {
				p.add(key(pre), "certificates are issued by backend vault (its PKI engine); this pod's backend is %s", p.be.Type)
				break
			}
		}
	}
	if err := config.ValidateIssueRef(s.Ref); err != nil {
		p.add(key(AnnotationSecretPrefix), "with %s<name> annotations the reference %v", strings.TrimPrefix(AnnotationCertCommonNamePrefix, Prefix), err)
	}
	if s.Format != config.FormatJSON && s.Format != config.FormatTemplate {
		p.add(key(AnnotationFormatPrefix), "a certificate is written as json (cert.pem, key.pem, ca.pem) or template, not %s", s.Format)
	}
	if v, ok := vals[AnnotationCertCommonNamePrefix]; ok {
		if err := config.ValidateCommonName(v); err != nil {
			p.add(key(AnnotationCertCommonNamePrefix), "%s %v", quote(v), err)
		}
		c.CommonName = v
	}
	if v, ok := vals[AnnotationCertAltNamesPrefix]; ok {
		c.AltNames = p.certList(key(AnnotationCertAltNamesPrefix), v, config.MaxAltNames, "DNS names", config.ValidateDNSName)
	}
	if v, ok := vals[AnnotationCertIPSANsPrefix]; ok {
		c.IPSANs = p.certList(key(AnnotationCertIPSANsPrefix), v, config.MaxIPSANs, "IP addresses", config.ValidateIPSAN)
	}
	if v, ok := vals[AnnotationCertTTLPrefix]; ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			p.add(key(AnnotationCertTTLPrefix), "%s is not a Go duration such as \"24h\" or \"90m\"", quote(v))
		case d < time.Duration(config.MinCertTTL) || d > time.Duration(config.MaxCertTTL):
			p.add(key(AnnotationCertTTLPrefix), "%s is outside %s to %s", quote(v), shortDuration(time.Duration(config.MinCertTTL)), shortDuration(time.Duration(config.MaxCertTTL)))
		}
		c.TTL = config.Duration(d)
	}
}

// certList reads a comma-separated list of at most max entries, each
// checked by valid.
func (p *parser) certList(key, v string, max int, what string, valid func(string) error) []string {
	parts := strings.Split(v, ",")
	if len(parts) > max {
		p.add(key, "lists %d %s; a certificate may have at most %d", len(parts), what, max)
		return nil
	}
	var out []string
	for _, n := range parts {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			p.add(key, "has an empty entry; write %s separated by single commas", what)
		case slices.Contains(out, n):
			p.add(key, "%s is listed twice", quote(n))
		default:
			if err := valid(n); err != nil {
				p.add(key, "%s %v", quote(n), err)
			}
			out = append(out, n)
		}
	}
	return out
}
