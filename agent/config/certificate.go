package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Certificate asks for a certificate issued for the pod (Vault's PKI
// engine): the secret's Ref is an issuing path, <mount>/issue/<role>. The
// names are requests: the issuer's role decides what it signs. They are
// names, never secret values, so errors may show them.
type Certificate struct {
	// CommonName is the subject's CN; empty leaves it to the role (Vault
	// requires one unless the role sets require_cn=false).
	CommonName string `json:"commonName,omitempty"`
	// AltNames are DNS subject alternative names.
	AltNames []string `json:"altNames,omitempty"`
	// IPSANs are IP address subject alternative names.
	IPSANs []string `json:"ipSANs,omitempty"`
	// TTL is the requested lifetime; zero takes the role's default. The
	// role's max_ttl caps it.
	TTL Duration `json:"ttl,omitempty"`
}

// Bounds of a certificate request: generous for a pod, small enough that
// a request and the certificate it makes stay small.
const (
	// MaxCommonNameLength is X.509's upper bound for a CN (RFC 5280).
	MaxCommonNameLength = 64
	// MaxDNSNameLength is the longest DNS name.
	MaxDNSNameLength = 253
	// MaxAltNames and MaxIPSANs bound each list.
	MaxAltNames = 32
	MaxIPSANs   = 32
	// MinCertTTL and MaxCertTTL bound the requested lifetime.
	MinCertTTL = Duration(time.Second)
	MaxCertTTL = Duration(10 * 365 * 24 * time.Hour)
)

// ValidateIssueRef checks that ref is a PKI issuing path,
// <mount>/issue/<role>, where the mount may be nested (pki/int).
func ValidateIssueRef(ref string) error {
	els := strings.Split(ref, "/")
	n := len(els)
	if n < 3 || els[n-2] != "issue" {
		return errors.New("must be a PKI issuing path, <mount>/issue/<role> (e.g. pki/issue/web)")
	}
	for _, el := range els {
		if el == "" || el == "." || el == ".." || strings.ContainsAny(el, "#?%\\ ") || hasControl(el) {
			return errors.New("must be a plain PKI issuing path, <mount>/issue/<role>: no empty, \".\" or \"..\" elements, spaces or any of #?%\\")
		}
	}
	return nil
}

// ValidateCommonName checks a CN: a DNS name (a leading "*." allowed) or
// an e-mail address, at most MaxCommonNameLength characters. Vault's
// roles enforce hostnames by default; a role with enforce_hostnames=false
// allows more than this, which a pod does not need. The error says why
// without repeating the name: callers show it, cut short.
func ValidateCommonName(cn string) error {
	if len(cn) > MaxCommonNameLength {
		return fmt.Errorf("is longer than %d characters, the most X.509 allows a common name", MaxCommonNameLength)
	}
	if local, domain, ok := strings.Cut(cn, "@"); ok {
		if local == "" || strings.ContainsAny(local, " \"(),:;<>@[\\]") || !printable(local) || dnsNameProblem(domain, false) != "" {
			return errors.New("is not a DNS name or an e-mail address")
		}
		return nil
	}
	if r := dnsNameProblem(cn, true); r != "" {
		return fmt.Errorf("is not a DNS name (%s)", r)
	}
	return nil
}

// ValidateDNSName checks a DNS subject alternative name; a leading "*."
// (a wildcard) is allowed. The error does not repeat the name.
func ValidateDNSName(name string) error {
	if r := dnsNameProblem(name, true); r != "" {
		return fmt.Errorf("is not a DNS name (%s)", r)
	}
	return nil
}

// ValidateIPSAN checks an IP address subject alternative name: IPv4 or
// IPv6, without a zone. The error does not repeat the address.
func ValidateIPSAN(ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return errors.New("is not an IP address such as 10.0.0.7 or fd00::7")
	}
	return nil
}

// shortQuote quotes a name for an error, cut at 64 bytes.
func shortQuote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(strings.ToValidUTF8(s[:64], "")) + "…"
	}
	return strconv.Quote(s)
}

// dnsNameProblem says what is wrong with a DNS name, "" if nothing:
// labels of letters, digits and '-', not starting or ending with '-', at
// most 63 characters each, at most MaxDNSNameLength in all.
func dnsNameProblem(name string, wildcard bool) string {
	if wildcard {
		name = strings.TrimPrefix(name, "*.")
	}
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxDNSNameLength:
		return fmt.Sprintf("longer than %d characters", MaxDNSNameLength)
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		switch {
		case label == "":
			return "an empty label"
		case len(label) > 63:
			return "a label longer than 63 characters"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "a label starts or ends with '-'"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return "labels hold only letters, digits and '-'"
			}
		}
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e })
}

// check reports every problem of a certificate request at path.
func (c *Certificate) check(path string, errs *FieldErrors) {
	if c.CommonName != "" {
		if err := ValidateCommonName(c.CommonName); err != nil {
			errs.add(path+".commonName", "%s %v", shortQuote(c.CommonName), err)
		}
	}
	checkList(path+".altNames", c.AltNames, MaxAltNames, "names", ValidateDNSName, errs)
	checkList(path+".ipSANs", c.IPSANs, MaxIPSANs, "addresses", ValidateIPSAN, errs)
	if c.TTL != 0 && (c.TTL < MinCertTTL || c.TTL > MaxCertTTL) {
		errs.add(path+".ttl", "%s is outside %s to %s", c.TTL, MinCertTTL, time.Duration(MaxCertTTL))
	}
}

// checkList reports a list at path longer than max (what it holds, in
// the plural), else each entry that valid refuses.
func checkList(path string, list []string, max int, what string, valid func(string) error, errs *FieldErrors) {
	if len(list) > max {
		errs.add(path, "%d %s, more than %d", len(list), what, max)
		return
	}
	for i, v := range list {
		if err := valid(v); err != nil {
			errs.add(index(path, i), "%s %v", shortQuote(v), err)
		}
	}
}
