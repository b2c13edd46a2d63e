package awstest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// contentType is the JSON 1.1 protocol's media type, on requests and
// responses alike.
const contentType = "application/x-amz-json-1.1"

// targetPrefix is the X-Amz-Target prefix of every Secrets Manager
// operation.
const targetPrefix = "secretsmanager."

// Error codes the server answers with, as they appear in "__type".
const (
	CodeResourceNotFound     = "ResourceNotFoundException"
	CodeInvalidRequest       = "InvalidRequestException"
	CodeInvalidParameter     = "InvalidParameterException"
	CodeResourceExists       = "ResourceExistsException"
	CodeAccessDenied         = "AccessDeniedException"
	CodeDecryptionFailure    = "DecryptionFailure"
	CodeInternalServiceError = "InternalServiceError"
	CodeThrottling           = "ThrottlingException"
	CodeMissingToken         = "MissingAuthenticationTokenException"
	CodeIncompleteSignature  = "IncompleteSignatureException"
	CodeSerialization        = "SerializationException"
	CodeUnknownOperation     = "UnknownOperationException"
)

// MarkedForDeletion is the service's message for reading a secret that is
// scheduled for deletion (an InvalidRequestException).
const MarkedForDeletion = "You can't perform this operation on the secret because it was marked for deletion."

// apiError is an error the way the service sends it: a type, a message
// and an HTTP status.
type apiError struct {
	code    string
	message string
	status  int
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// newError builds an error with the status the service uses for code:
// 500 for server faults, 503 for unavailability, 400 for everything else
// (Secrets Manager sends even AccessDeniedException and throttling as 400).
func newError(code, message string) *apiError {
	status := http.StatusBadRequest
	switch code {
	case CodeInternalServiceError, "InternalFailure":
		status = http.StatusInternalServerError
	case "ServiceUnavailable":
		status = http.StatusServiceUnavailable
	}
	return &apiError{code: code, message: message, status: status}
}

// errorBody is the JSON error document. The service writes "Message"
// for its modeled errors; the SDK reads either case.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorBody{Type: e.code, Message: e.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalServiceError","Message":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", newVersionID())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// epoch is a timestamp as the JSON protocols send it: a number of seconds
// since the Unix epoch, with milliseconds as a fraction.
type epoch time.Time

// MarshalJSON writes seconds with three decimals, e.g. 1523477145.713.
func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// Request and response shapes, named after the operations.
type (
	getSecretValueInput struct {
		SecretId     string
		VersionId    string
		VersionStage string
	}
	getSecretValueOutput struct {
		ARN           string
		Name          string
		VersionId     string
		VersionStages []string
		SecretString  *string `json:",omitempty"`
		SecretBinary  []byte  `json:",omitempty"`
		CreatedDate   *epoch  `json:",omitempty"`
	}
	describeSecretInput struct {
		SecretId string
	}
	describeSecretOutput struct {
		ARN                string
		Name               string
		CreatedDate        *epoch `json:",omitempty"`
		LastChangedDate    *epoch `json:",omitempty"`
		DeletedDate        *epoch `json:",omitempty"`
		VersionIdsToStages map[string][]string
	}
	putSecretValueInput struct {
		SecretId           string
		ClientRequestToken string
		SecretString       *string
		SecretBinary       []byte
		VersionStages      []string
	}
	putSecretValueOutput struct {
		ARN           string
		Name          string
		VersionId     string
		VersionStages []string
	}
	createSecretInput struct {
		Name               string
		ClientRequestToken string
		Description        string
		SecretString       *string
		SecretBinary       []byte
	}
	createSecretOutput struct {
		ARN       string
		Name      string
		VersionId string `json:",omitempty"`
	}
	deleteSecretInput struct {
		SecretId                   string
		RecoveryWindowInDays       *int64
		ForceDeleteWithoutRecovery *bool
	}
	deleteSecretOutput struct {
		ARN          string
		Name         string
		DeletionDate *epoch
	}
	restoreSecretInput struct {
		SecretId string
	}
	restoreSecretOutput struct {
		ARN  string
		Name string
	}
)
