package awstest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBody bounds a request body: the service's largest secret is 64 KiB,
// which base64 and JSON make a little larger.
const maxBody = 1 << 20

// operation handles one request's body under the server's lock.
type operation func(s *Server, body []byte) (any, *apiError)

var operations = map[string]operation{
	"GetSecretValue": decoded((*Server).getSecretValue),
	"DescribeSecret": decoded((*Server).describeSecret),
	"PutSecretValue": decoded((*Server).putSecretValue),
	"CreateSecret":   decoded((*Server).createSecret),
	"DeleteSecret":   decoded((*Server).deleteSecret),
	"RestoreSecret":  decoded((*Server).restoreSecret),
}

// decoded makes an operation of fn, which takes the body decoded into its
// input type: a body that does not decode is SerializationException.
func decoded[In any](fn func(s *Server, in *In) (any, *apiError)) operation {
	return func(s *Server, body []byte) (any, *apiError) {
		in := new(In)
		if err := json.Unmarshal(body, in); err != nil {
			return nil, newError(CodeSerialization, "request body is not valid JSON for this operation")
		}
		return fn(s, in)
	}
}

// serveHTTP is the protocol's front door: record, check the signature,
// wait out the latency, inject faults, then run the operation.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if isSTS(r) {
		s.serveSTS(w, r)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, targetPrefix)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, newError(CodeSerialization, "request body could not be read"))
		return
	}
	var ids struct{ SecretId, Name string }
	_ = json.Unmarshal(body, &ids) // a bad body is reported by the operation
	id := ids.SecretId
	if id == "" {
		id = ids.Name
	}
	auth, authErr := checkAuth(r)

	s.mu.Lock()
	rec := Request{Target: target, Operation: op, SecretID: id, Auth: auth}
	if c, ok := s.issuedByKey(auth.AccessKeyID); ok {
		rec.Role = c.RoleARN
	}
	if authErr == nil && s.required != "" {
		_, authErr = s.checkCaller(r, auth, s.required, "secretsmanager:"+op, id)
	}
	if authErr != nil {
		rec.AuthError = authErr.code
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	faults := s.faults.Record(op)

	if authErr != nil {
		writeError(w, authErr)
		return
	}
	if e := checkProtocol(r, target); e != nil {
		writeError(w, e)
		return
	}
	if faults.Wait(r.Context()) != nil {
		return // the client gave up
	}

	s.mu.Lock()
	out, e := s.dispatch(op, body)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// checkProtocol refuses what is not a JSON 1.1 call.
func checkProtocol(r *http.Request, target string) *apiError {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return newError(CodeUnknownOperation, "only POST / is served")
	}
	if !strings.HasPrefix(target, targetPrefix) {
		return newError(CodeUnknownOperation, "X-Amz-Target must name a secretsmanager operation")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != contentType {
		return newError(CodeSerialization, "Content-Type must be "+contentType)
	}
	return nil
}

// dispatch runs op after the injected faults; s.mu is held.
func (s *Server) dispatch(op string, body []byte) (any, *apiError) {
	fn, ok := operations[op]
	faults := s.faults.Current() // as set when the latency has passed
	switch {
	case !ok:
		return nil, newError(CodeUnknownOperation, "operation "+op+" is not supported")
	case faults.Throttle:
		return nil, newError(CodeThrottling, "Rate exceeded")
	case faults.Fail != "":
		return nil, newError(faults.Fail, "injected failure")
	}
	s.st.purge(s.now())
	return fn(s, body)
}

// denyCheck answers AccessDeniedException, worded as IAM does, when op on
// id is denied.
func (s *Server) denyCheck(op, id string) *apiError {
	if !s.denied[s.st.nameOf(id)] {
		return nil
	}
	return newError(CodeAccessDenied, "User: arn:aws:sts::"+AccountID+":assumed-role/awstest/session is not authorized to perform: secretsmanager:"+op+
		" on resource: "+id+" because no identity-based policy allows the secretsmanager:"+op+" action")
}
