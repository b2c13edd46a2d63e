package awstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// STS: the server also speaks the AWS Security Token Service's Query
// protocol on the same URL (a form-encoded POST whose Action names the
// operation, answered in XML), so that the SDK's credential providers can
// be pointed at it (AWS_ENDPOINT_URL_STS, or an STS client's
// BaseEndpoint). It implements AssumeRole (SigV4-signed for service sts,
// as cross-account access uses it) and AssumeRoleWithWebIdentity
// (unsigned, as IRSA uses it). Both issue fresh temporary credentials;
// RequireRole makes Secrets Manager accept only those, which proves a
// client's credential chain end to end.

// STS error codes, as they appear in <Code>.
const (
	CodeSTSAccessDenied       = "AccessDenied"
	CodeInvalidIdentityToken  = "InvalidIdentityToken"
	CodeExpiredToken          = "ExpiredTokenException"
	CodeInvalidClientTokenID  = "InvalidClientTokenId"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeSTSValidationError    = "ValidationError"
	CodeSTSInvalidAction      = "InvalidAction"
	stsNamespace              = "https://sts.amazonaws.com/doc/2011-06-15/"
	stsContentType            = "application/x-www-form-urlencoded"
	defaultCredentialLifetime = time.Hour
)

// Credentials are temporary credentials the server issued.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// RoleARN and SessionName are the role and session they belong to.
	RoleARN, SessionName string
	Expiration           time.Time
}

// assumedRoleARN is the sts ARN of a role session, as STS names callers.
func (c Credentials) assumedRoleARN() string {
	name := c.RoleARN[strings.LastIndex(c.RoleARN, "/")+1:]
	return "arn:aws:sts::" + accountOf(c.RoleARN) + ":assumed-role/" + name + "/" + c.SessionName
}

// accountOf is the account field of an ARN.
func accountOf(arn string) string {
	f := strings.Split(arn, ":")
	if len(f) > 4 {
		return f[4]
	}
	return AccountID
}

// stsRole is a role the server lets callers assume.
type stsRole struct {
	trusted []string // role ARNs whose sessions may assume it; empty: any signed caller
	tokens  map[string]bool
}

// AddRole lets callers assume roleARN with AssumeRole: sessions of the
// trusted roles, or any signed caller when none is given (its trust
// policy). A role not added answers AccessDenied, as STS does.
func (s *Server) AddRole(roleARN string, trusted ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.role(roleARN)
	r.trusted = append(r.trusted, trusted...)
}

// AllowWebIdentity lets the holder of token assume roleARN with
// AssumeRoleWithWebIdentity, as an OIDC provider and the role's trust
// policy would for a service account's projected token.
func (s *Server) AllowWebIdentity(roleARN, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.role(roleARN).tokens[token] = true
}

func (s *Server) role(arn string) *stsRole {
	r, ok := s.roles[arn]
	if !ok {
		r = &stsRole{tokens: map[string]bool{}}
		s.roles[arn] = r
	}
	return r
}

// RequireRole makes every Secrets Manager operation accept only
// credentials the server issued for roleARN, unexpired and with their
// session token: others answer UnrecognizedClientException (not issued
// here), ExpiredTokenException or AccessDeniedException (another role).
// "" lifts it.
func (s *Server) RequireRole(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.required = roleARN
}

// SetCredentialLifetime makes the credentials issued from now on expire
// after d instead of their requested DurationSeconds (default one hour).
func (s *Server) SetCredentialLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Issued returns every credential the server issued, oldest first.
func (s *Server) Issued() []Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Credentials(nil), s.issued...)
}

// issuedByKey finds the credentials of an access key id; s.mu is held.
func (s *Server) issuedByKey(akid string) (Credentials, bool) {
	for _, c := range s.issued {
		if c.AccessKeyID == akid {
			return c, true
		}
	}
	return Credentials{}, false
}

// checkCaller checks a signed request's temporary credentials against
// what the server issued; long-term keys (not issued here) pass unless
// required is set. It returns the caller's ARN. s.mu is held.
func (s *Server) checkCaller(r *http.Request, auth Auth, required, op, resource string) (string, *apiError) {
	c, ok := s.issuedByKey(auth.AccessKeyID)
	switch {
	case !ok && required == "":
		return "arn:aws:iam::" + AccountID + ":user/awstest", nil
	case !ok || r.Header.Get("X-Amz-Security-Token") != c.SessionToken:
		return "", newError(CodeUnrecognizedClient, "The security token included in the request is invalid.")
	case !s.now().Before(c.Expiration):
		return "", newError(CodeExpiredToken, "The security token included in the request is expired")
	case required != "" && c.RoleARN != required:
		return "", newError(CodeAccessDenied, "User: "+c.assumedRoleARN()+" is not authorized to perform: "+op+" on resource: "+resource+
			" because no identity-based policy allows the "+op+" action")
	}
	return c.assumedRoleARN(), nil
}

// issue mints credentials for a role session; s.mu is held.
func (s *Server) issue(roleARN, session string, duration time.Duration) Credentials {
	if s.lifetime > 0 {
		duration = s.lifetime
	}
	c := Credentials{
		AccessKeyID:     "ASIA" + strings.ToUpper(randomHex(8)),
		SecretAccessKey: "awstest-secret-" + randomHex(16),
		SessionToken:    "awstest-session-" + randomHex(32),
		RoleARN:         roleARN,
		SessionName:     session,
		Expiration:      s.now().Add(duration).UTC().Truncate(time.Second),
	}
	s.issued = append(s.issued, c)
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// isSTS tells an STS Query request from a Secrets Manager JSON one.
func isSTS(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") == "" && strings.HasPrefix(r.Header.Get("Content-Type"), stsContentType)
}

// serveSTS is STS's front door: parse the form, record, check the
// signature where the operation needs one, run it.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	r.Body = body
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeSTSError(w, newError(CodeSTSValidationError, "request could not be parsed"))
		return
	}
	action := r.PostForm.Get("Action")
	auth, authErr := Auth{}, (*apiError)(nil)
	if action != "AssumeRoleWithWebIdentity" {
		auth, authErr = checkAuthFor(r, "sts")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Operation: action, RoleARN: r.PostForm.Get("RoleArn"), RoleSessionName: r.PostForm.Get("RoleSessionName"), Auth: auth}
	if authErr != nil {
		rec.AuthError = authErr.code
	}
	s.requests = append(s.requests, rec)
	s.faults.Record(action) // counted; STS itself injects no faults
	if authErr != nil {
		writeSTSError(w, authErr)
		return
	}
	var out any
	var e *apiError
	switch action {
	case "AssumeRole":
		out, e = s.assumeRole(r, auth)
	case "AssumeRoleWithWebIdentity":
		out, e = s.assumeRoleWithWebIdentity(r)
	default:
		e = newError(CodeSTSInvalidAction, "Could not find operation "+action+" for version 2011-06-15")
	}
	if e != nil {
		writeSTSError(w, e)
		return
	}
	writeXML(w, http.StatusOK, out)
}

// sessionArgs reads and checks what both operations share.
func sessionArgs(form url.Values) (role, session string, duration time.Duration, e *apiError) {
	role, session = form.Get("RoleArn"), form.Get("RoleSessionName")
	duration = defaultCredentialLifetime
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return "", "", 0, newError(CodeSTSValidationError, "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		duration = time.Duration(n) * time.Second
	}
	switch {
	case role == "":
		return "", "", 0, newError(CodeSTSValidationError, "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case len(session) < 2 || len(session) > 64 || strings.Trim(session, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-") != "":
		return "", "", 0, newError(CodeSTSValidationError, "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and match [\\w+=,.@-]*")
	}
	return role, session, duration, nil
}

func (s *Server) assumeRole(r *http.Request, auth Auth) (any, *apiError) {
	role, session, duration, e := sessionArgs(r.PostForm)
	if e != nil {
		return nil, e
	}
	caller, e := s.checkCaller(r, auth, "", "sts:AssumeRole", role)
	if e != nil {
		if e.code == CodeUnrecognizedClient {
			e = newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.")
		}
		return nil, e
	}
	rl, ok := s.roles[role]
	callerRole := ""
	if c, issued := s.issuedByKey(auth.AccessKeyID); issued {
		callerRole = c.RoleARN
	}
	if !ok || len(rl.trusted) > 0 && !contains(rl.trusted, callerRole) {
		return nil, newError(CodeSTSAccessDenied, "User: "+caller+" is not authorized to perform: sts:AssumeRole on resource: "+role)
	}
	c := s.issue(role, session, duration)
	return assumeRoleResponse{Result: assumeRoleResult{User: assumedUser(c), Credentials: xmlCredentials(c)}, Meta: meta()}, nil
}

func (s *Server) assumeRoleWithWebIdentity(r *http.Request) (any, *apiError) {
	role, session, duration, e := sessionArgs(r.PostForm)
	if e != nil {
		return nil, e
	}
	token := r.PostForm.Get("WebIdentityToken")
	known := false
	for _, rl := range s.roles {
		known = known || rl.tokens[token]
	}
	switch {
	case token == "" || !known:
		return nil, newError(CodeInvalidIdentityToken, "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")
	case s.roles[role] == nil || !s.roles[role].tokens[token]:
		return nil, newError(CodeSTSAccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	}
	c := s.issue(role, session, duration)
	return assumeRoleWithWebIdentityResponse{Result: assumeRoleWithWebIdentityResult{
		User: assumedUser(c), Credentials: xmlCredentials(c), Subject: "system:serviceaccount:awstest:awstest",
		Audience: "sts.amazonaws.com", Provider: "oidc.eks." + Region + ".amazonaws.com/id/AWSTEST",
	}, Meta: meta()}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The Query protocol's XML documents.
type (
	assumeRoleResponse struct {
		XMLName xml.Name         `xml:"AssumeRoleResponse"`
		NS      string           `xml:"xmlns,attr"`
		Result  assumeRoleResult `xml:"AssumeRoleResult"`
		Meta    responseMetadata `xml:"ResponseMetadata"`
	}
	assumeRoleResult struct {
		User        assumedRoleUser `xml:"AssumedRoleUser"`
		Credentials credentialsXML  `xml:"Credentials"`
	}
	assumeRoleWithWebIdentityResponse struct {
		XMLName xml.Name                        `xml:"AssumeRoleWithWebIdentityResponse"`
		NS      string                          `xml:"xmlns,attr"`
		Result  assumeRoleWithWebIdentityResult `xml:"AssumeRoleWithWebIdentityResult"`
		Meta    responseMetadata                `xml:"ResponseMetadata"`
	}
	assumeRoleWithWebIdentityResult struct {
		Subject     string          `xml:"SubjectFromWebIdentityToken"`
		Audience    string          `xml:"Audience"`
		User        assumedRoleUser `xml:"AssumedRoleUser"`
		Credentials credentialsXML  `xml:"Credentials"`
		Provider    string          `xml:"Provider"`
	}
	assumedRoleUser struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	credentialsXML struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	responseMetadata struct {
		RequestID string `xml:"RequestId"`
	}
	stsErrorResponse struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		NS        string   `xml:"xmlns,attr"`
		Error     stsError `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}
	stsError struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
)

func assumedUser(c Credentials) assumedRoleUser {
	return assumedRoleUser{Arn: c.assumedRoleARN(), AssumedRoleID: "AROAAWSTEST" + strings.ToUpper(randomHex(4)) + ":" + c.SessionName}
}

func xmlCredentials(c Credentials) credentialsXML {
	return credentialsXML{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Expiration: c.Expiration.Format(time.RFC3339)}
}

func meta() responseMetadata { return responseMetadata{RequestID: newVersionID()} }

// writeSTSError answers in the Query protocol's error shape, with the
// status STS uses: 403 for AccessDenied and bad tokens, 400 otherwise.
func writeSTSError(w http.ResponseWriter, e *apiError) {
	status := http.StatusBadRequest
	switch e.code {
	case CodeSTSAccessDenied, CodeInvalidClientTokenID, CodeExpiredToken, CodeMissingToken, CodeIncompleteSignature:
		status = http.StatusForbidden
	}
	writeXML(w, status, stsErrorResponse{Error: stsError{Type: "Sender", Code: e.code, Message: e.message}, RequestID: newVersionID()})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	switch d := v.(type) {
	case assumeRoleResponse:
		d.NS = stsNamespace
		v = d
	case assumeRoleWithWebIdentityResponse:
		d.NS = stsNamespace
		v = d
	case stsErrorResponse:
		d.NS = stsNamespace
		v = d
	}
	b, err := xml.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte("<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>")
	}
	b = append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Amzn-RequestId", newVersionID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
