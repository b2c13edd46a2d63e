package awstest

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Auth is the shape of a request's SigV4 signature. The server checks the
// shape, never the signature's value: it holds no secret keys.
type Auth struct {
	// AccessKeyID is the credential's access key id.
	AccessKeyID string
	// Date, Region and Service are the credential scope.
	Date, Region, Service string
	// SignedHeaders are the header names the signature covers.
	SignedHeaders []string
	// SessionToken reports whether X-Amz-Security-Token was sent
	// (temporary credentials: IRSA, Pod Identity, assumed roles).
	SessionToken bool
}

var (
	authPattern = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/\s,]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)
	datePattern = regexp.MustCompile(`^\d{8}T\d{6}Z$`)
)

// checkAuth parses the Authorization and X-Amz-Date headers the way the
// service's front door does and answers with its errors: a request
// without a signature is MissingAuthenticationTokenException, a malformed
// one IncompleteSignatureException.
func checkAuth(r *http.Request) (Auth, *apiError) { return checkAuthFor(r, "secretsmanager") }

// checkAuthFor is checkAuth for a request to service.
func checkAuthFor(r *http.Request, service string) (Auth, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Auth{}, newError(CodeMissingToken, "Missing Authentication Token")
	}
	m := authPattern.FindStringSubmatch(h)
	if m == nil {
		return Auth{}, newError(CodeIncompleteSignature, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters in the AWS4-HMAC-SHA256 format.")
	}
	a := Auth{
		AccessKeyID:   m[1],
		Date:          m[2],
		Region:        m[3],
		Service:       m[4],
		SignedHeaders: strings.Split(m[5], ";"),
		SessionToken:  r.Header.Get("X-Amz-Security-Token") != "",
	}
	date := r.Header.Get("X-Amz-Date")
	switch {
	case date == "":
		return a, newError(CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	case !datePattern.MatchString(date) || date[:8] != a.Date:
		return a, newError(CodeIncompleteSignature, "Credential should be scoped to a valid date matching X-Amz-Date.")
	case a.Service != service:
		return a, newError(CodeIncompleteSignature, "Credential should be scoped to correct service: '"+service+"'.")
	case !slices.Contains(a.SignedHeaders, "host") || !slices.Contains(a.SignedHeaders, "x-amz-date"):
		return a, newError(CodeIncompleteSignature, "Signed headers must include 'host' and 'x-amz-date'.")
	}
	return a, nil
}
