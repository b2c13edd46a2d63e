package awstest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
)

// signature is a well-formed SigV4 header; the server checks its shape only.
const signature = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/secretsmanager/aws4_request, " +
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// call sends one raw protocol request and decodes the JSON answer.
func call(t *testing.T, srv *awstest.Server, op string, in any, header map[string]string) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	req.Header.Set("X-Amz-Date", "20240102T030405Z")
	req.Header.Set("Authorization", signature)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("%s answered Content-Type %q", op, ct)
	}
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answered non-JSON %q: %v", op, raw, err)
	}
	return resp.StatusCode, out
}

// errorOf is an error answer's status and type.
type errorOf struct {
	Status int
	Type   string
}

func asError(status int, out map[string]any) errorOf {
	typ, _ := out["__type"].(string)
	return errorOf{status, typ}
}

func TestFrontDoorRejects(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put("app/key", []byte("v"), false)
	tests := []struct {
		name   string
		op     string
		header map[string]string
		want   errorOf
	}{
		{"no signature", "GetSecretValue", map[string]string{"Authorization": ""}, errorOf{400, "MissingAuthenticationTokenException"}},
		{"not sigv4", "GetSecretValue", map[string]string{"Authorization": "Bearer abc"}, errorOf{400, "IncompleteSignatureException"}},
		{"short signature", "GetSecretValue", map[string]string{"Authorization": signature[:len(signature)-2]}, errorOf{400, "IncompleteSignatureException"}},
		{"no date", "GetSecretValue", map[string]string{"X-Amz-Date": ""}, errorOf{400, "IncompleteSignatureException"}},
		{"date outside scope", "GetSecretValue", map[string]string{"X-Amz-Date": "20240103T000000Z"}, errorOf{400, "IncompleteSignatureException"}},
		{"other service", "GetSecretValue", map[string]string{"Authorization": strings.Replace(signature, "/secretsmanager/", "/kms/", 1)}, errorOf{400, "IncompleteSignatureException"}},
		{"wrong content type", "GetSecretValue", map[string]string{"Content-Type": "application/json"}, errorOf{400, "SerializationException"}},
		{"unknown operation", "RotateSecret", nil, errorOf{400, "UnknownOperationException"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := call(t, srv, tt.op, map[string]string{"SecretId": "app/key"}, tt.header)
			if diff := cmp.Diff(tt.want, asError(status, out)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnsignedPostIsRecorded(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(`{"SecretId":"app/key"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type    string `json:"__type"`
		Message string
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Type != "MissingAuthenticationTokenException" || body.Message == "" {
		t.Fatalf("unsigned request: %d %+v", resp.StatusCode, body)
	}
	want := []awstest.Request{{
		Target: "secretsmanager.GetSecretValue", Operation: "GetSecretValue", SecretID: "app/key",
		AuthError: "MissingAuthenticationTokenException",
	}}
	if diff := cmp.Diff(want, srv.Requests()); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"GetSecretValue": 1}, srv.Calls()); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
}

func TestGetSecretValueShape(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	id := srv.Put("tradepulse/mlflow", []byte(`{"user":"u"}`), false)
	binID := srv.Put("tradepulse/keystore", []byte{0, 0xff, 1}, true)

	status, out := call(t, srv, "GetSecretValue", map[string]string{"SecretId": "tradepulse/mlflow"}, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, out)
	}
	if _, ok := out["CreatedDate"].(float64); !ok {
		t.Errorf("CreatedDate = %#v, want epoch seconds as a JSON number", out["CreatedDate"])
	}
	delete(out, "CreatedDate")
	want := map[string]any{
		"ARN":           srv.ARN("tradepulse/mlflow"),
		"Name":          "tradepulse/mlflow",
		"VersionId":     id,
		"VersionStages": []any{"AWSCURRENT"},
		"SecretString":  `{"user":"u"}`,
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("GetSecretValue (-want +got):\n%s", diff)
	}

	_, out = call(t, srv, "GetSecretValue", map[string]string{"SecretId": "tradepulse/keystore"}, nil)
	if out["SecretBinary"] != "AP8B" || out["VersionId"] != binID || out["SecretString"] != nil {
		t.Errorf("binary secret answered %v, want SecretBinary base64 \"AP8B\" only", out)
	}
}

func TestStagesMoveOnPut(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	v1 := srv.Put("db", []byte("1"), false)
	v2 := srv.Put("db", []byte("2"), false)
	_, out := call(t, srv, "DescribeSecret", map[string]string{"SecretId": "db"}, nil)
	want := map[string]any{v2: []any{"AWSCURRENT"}, v1: []any{"AWSPREVIOUS"}}
	if diff := cmp.Diff(want, out["VersionIdsToStages"]); diff != "" {
		t.Errorf("after two puts (-want +got):\n%s", diff)
	}

	v3 := srv.Put("db", []byte("3"), false)
	_, out = call(t, srv, "DescribeSecret", map[string]string{"SecretId": "db"}, nil)
	want = map[string]any{v3: []any{"AWSCURRENT"}, v2: []any{"AWSPREVIOUS"}}
	if diff := cmp.Diff(want, out["VersionIdsToStages"]); diff != "" {
		t.Errorf("after three puts (-want +got):\n%s", diff)
	}
	// The first version lost its labels but can still be read by id.
	status, out := call(t, srv, "GetSecretValue", map[string]string{"SecretId": "db", "VersionId": v1}, nil)
	if status != 200 || out["SecretString"] != "1" || len(out["VersionStages"].([]any)) != 0 {
		t.Errorf("deprecated version: %d %v", status, out)
	}

	// A pending version leaves AWSCURRENT where it is.
	token := "11111111-2222-4333-8444-555555555555"
	status, out = call(t, srv, "PutSecretValue", map[string]any{
		"SecretId": "db", "ClientRequestToken": token, "SecretString": "4", "VersionStages": []string{"AWSPENDING"},
	}, nil)
	if status != 200 || out["VersionId"] != token {
		t.Fatalf("PutSecretValue: %d %v", status, out)
	}
	_, out = call(t, srv, "GetSecretValue", map[string]string{"SecretId": "db", "VersionStage": "AWSPENDING"}, nil)
	if out["SecretString"] != "4" {
		t.Errorf("AWSPENDING = %v", out["SecretString"])
	}
	_, out = call(t, srv, "GetSecretValue", map[string]string{"SecretId": "db"}, nil)
	if out["SecretString"] != "3" {
		t.Errorf("AWSCURRENT = %v after a pending put, want 3", out["SecretString"])
	}

	// Retrying a PutSecretValue is idempotent; reusing its token for
	// another value is refused.
	status, _ = call(t, srv, "PutSecretValue", map[string]any{"SecretId": "db", "ClientRequestToken": token, "SecretString": "4", "VersionStages": []string{"AWSPENDING"}}, nil)
	if status != 200 {
		t.Errorf("idempotent retry: status %d", status)
	}
	status, out = call(t, srv, "PutSecretValue", map[string]any{"SecretId": "db", "ClientRequestToken": token, "SecretString": "5"}, nil)
	if diff := cmp.Diff(errorOf{400, "ResourceExistsException"}, asError(status, out)); diff != "" {
		t.Errorf("token reuse (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(srv *awstest.Server)
		op    string
		in    any
		want  errorOf
		msg   string
	}{
		{"missing secret", nil, "GetSecretValue", map[string]string{"SecretId": "nope"}, errorOf{400, "ResourceNotFoundException"}, ""},
		{"missing stage", nil, "GetSecretValue", map[string]string{"SecretId": "app", "VersionStage": "AWSPENDING"}, errorOf{400, "ResourceNotFoundException"}, ""},
		{"missing version", nil, "GetSecretValue", map[string]string{"SecretId": "app", "VersionId": "00000000-0000-4000-8000-000000000000"}, errorOf{400, "ResourceNotFoundException"}, ""},
		{"deleted", func(s *awstest.Server) { s.Delete("app") }, "DescribeSecret", map[string]string{"SecretId": "app"}, errorOf{400, "ResourceNotFoundException"}, ""},
		{"denied", func(s *awstest.Server) { s.Deny("app", true) }, "GetSecretValue", map[string]string{"SecretId": "app"}, errorOf{400, "AccessDeniedException"}, ""},
		{"denied by ARN", func(s *awstest.Server) { s.Deny("app", true) }, "DescribeSecret", map[string]string{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app"}, errorOf{400, "AccessDeniedException"}, ""},
		{"throttled", func(s *awstest.Server) { s.Throttle(true) }, "GetSecretValue", map[string]string{"SecretId": "app"}, errorOf{400, "ThrottlingException"}, ""},
		{"internal error", func(s *awstest.Server) { s.FailWith("InternalServiceError") }, "DescribeSecret", map[string]string{"SecretId": "app"}, errorOf{500, "InternalServiceError"}, ""},
		{"decryption failure", func(s *awstest.Server) { s.FailWith("DecryptionFailure") }, "GetSecretValue", map[string]string{"SecretId": "app"}, errorOf{400, "DecryptionFailure"}, ""},
		{"force with recovery window", nil, "DeleteSecret", map[string]any{"SecretId": "app", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}, errorOf{400, "InvalidParameterException"}, ""},
		{"recovery window too short", nil, "DeleteSecret", map[string]any{"SecretId": "app", "RecoveryWindowInDays": 3}, errorOf{400, "InvalidParameterException"}, ""},
		{"create existing", nil, "CreateSecret", map[string]string{"Name": "app", "SecretString": "x"}, errorOf{400, "ResourceExistsException"}, ""},
		{"create bad name", nil, "CreateSecret", map[string]string{"Name": "a b", "SecretString": "x"}, errorOf{400, "InvalidParameterException"}, ""},
		{"put without value", nil, "PutSecretValue", map[string]string{"SecretId": "app"}, errorOf{400, "InvalidRequestException"}, ""},
		{"no secret id", nil, "GetSecretValue", map[string]string{}, errorOf{400, "InvalidParameterException"}, ""},
		{"marked for deletion", func(s *awstest.Server) {
			srvCall(s, "DeleteSecret", map[string]any{"SecretId": "app", "RecoveryWindowInDays": 7})
		}, "GetSecretValue", map[string]string{"SecretId": "app"}, errorOf{400, "InvalidRequestException"}, awstest.MarkedForDeletion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awstest.NewServer()
			defer srv.Close()
			srv.Put("app", []byte("v"), false)
			if tt.setup != nil {
				tt.setup(srv)
			}
			status, out := call(t, srv, tt.op, tt.in, nil)
			if diff := cmp.Diff(tt.want, asError(status, out)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if msg, _ := out["Message"].(string); msg == "" || tt.msg != "" && msg != tt.msg {
				t.Errorf("Message = %q, want %q", msg, tt.msg)
			}
		})
	}
}

// srvCall is call for setup funcs, which have no *testing.T.
func srvCall(srv *awstest.Server, op string, in any) {
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	req.Header.Set("X-Amz-Date", "20240102T030405Z")
	req.Header.Set("Authorization", signature)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func TestDeletionLifecycle(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put("app", []byte("v"), false)
	arn := srv.ARN("app")

	status, out := call(t, srv, "DeleteSecret", map[string]any{"SecretId": arn, "RecoveryWindowInDays": 7}, nil)
	if status != 200 || out["DeletionDate"] == nil {
		t.Fatalf("DeleteSecret: %d %v", status, out)
	}
	_, out = call(t, srv, "DescribeSecret", map[string]string{"SecretId": "app"}, nil)
	if _, ok := out["DeletedDate"].(float64); !ok {
		t.Errorf("DescribeSecret of a scheduled secret has DeletedDate %#v", out["DeletedDate"])
	}
	status, out = call(t, srv, "CreateSecret", map[string]string{"Name": "app", "SecretString": "x"}, nil)
	if diff := cmp.Diff(errorOf{400, "InvalidRequestException"}, asError(status, out)); diff != "" {
		t.Errorf("CreateSecret over a scheduled secret (-want +got):\n%s", diff)
	}

	if status, out = call(t, srv, "RestoreSecret", map[string]string{"SecretId": "app"}, nil); status != 200 {
		t.Fatalf("RestoreSecret: %d %v", status, out)
	}
	if status, out = call(t, srv, "GetSecretValue", map[string]string{"SecretId": arn}, nil); status != 200 || out["SecretString"] != "v" {
		t.Fatalf("after restore: %d %v", status, out)
	}

	// Deleting for good and creating again gives a new ARN: the old one
	// stays gone.
	if status, _ = call(t, srv, "DeleteSecret", map[string]any{"SecretId": "app", "ForceDeleteWithoutRecovery": true}, nil); status != 200 {
		t.Fatalf("force delete: %d", status)
	}
	status, out = call(t, srv, "CreateSecret", map[string]string{"Name": "app", "SecretString": "new"}, nil)
	if status != 200 || out["ARN"] == arn {
		t.Fatalf("re-create: %d %v (old ARN %s)", status, out, arn)
	}
	status, out = call(t, srv, "GetSecretValue", map[string]string{"SecretId": arn}, nil)
	if diff := cmp.Diff(errorOf{400, "ResourceNotFoundException"}, asError(status, out)); diff != "" {
		t.Errorf("old ARN after re-create (-want +got):\n%s", diff)
	}
}

func TestLatencyEndsWithClient(t *testing.T) {
	srv := awstest.NewServer()
	srv.SetLatency(time.Hour)
	srv.Put("app", []byte("v"), false)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(`{"SecretId":"app"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("X-Amz-Date", "20240102T030405Z")
	req.Header.Set("Authorization", signature)
	if _, err := client.Do(req); err == nil {
		t.Fatal("a request slower than the client's timeout succeeded")
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a delayed request")
	}
}
