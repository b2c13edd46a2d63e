package awstest_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
)

// stsCall sends one raw Query-protocol request and returns the status and
// the <Code> of an error document ("" on success).
func stsCall(t *testing.T, srv *awstest.Server, form url.Values, signed bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if signed {
		req.Header.Set("X-Amz-Date", "20240102T030405Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/sts/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		Error struct{ Code string } `xml:"Error"`
	}
	_ = xml.Unmarshal(body, &doc)
	return resp.StatusCode, doc.Error.Code
}

// TestSTSFrontDoor: what the server refuses before any credential is
// issued, as STS does.
func TestSTSFrontDoor(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	const role = "arn:aws:iam::111122223333:role/reader"
	srv.AddRole(role)
	assume := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {role}, "RoleSessionName": {"trading.ledger"}}
	tests := []struct {
		name   string
		form   url.Values
		signed bool
		status int
		code   string
	}{
		{"signed AssumeRole", assume, true, http.StatusOK, ""},
		{"unsigned AssumeRole", assume, false, http.StatusForbidden, awstest.CodeMissingToken},
		{"bad session name", url.Values{"Action": {"AssumeRole"}, "RoleArn": {role}, "RoleSessionName": {"a b"}}, true, http.StatusBadRequest, awstest.CodeSTSValidationError},
		{"duration below STS's minimum", url.Values{"Action": {"AssumeRole"}, "RoleArn": {role}, "RoleSessionName": {"ab"}, "DurationSeconds": {"60"}}, true, http.StatusBadRequest, awstest.CodeSTSValidationError},
		{"role not assumable", url.Values{"Action": {"AssumeRole"}, "RoleArn": {"arn:aws:iam::111122223333:role/admin"}, "RoleSessionName": {"ab"}}, true, http.StatusForbidden, awstest.CodeSTSAccessDenied},
		{"unknown web identity token", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "RoleArn": {role}, "RoleSessionName": {"ab"}, "WebIdentityToken": {"x"}}, false, http.StatusBadRequest, awstest.CodeInvalidIdentityToken},
		{"unknown action", url.Values{"Action": {"GetFederationToken"}}, true, http.StatusBadRequest, awstest.CodeSTSInvalidAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := stsCall(t, srv, tt.form, tt.signed)
			if status != tt.status || code != tt.code {
				t.Errorf("answer %d %q, want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
	if n := len(srv.Issued()); n != 1 {
		t.Errorf("issued %d credentials, want 1 (the signed AssumeRole)", n)
	}
}
