package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ErrUnknownSecret is returned by an Agent for a secret name it does not
// hold; the handler answers 404.
var ErrUnknownSecret = errors.New("no such secret")

// ErrNoLeases is returned by RevokeLeases when no selected secret holds a
// lease; the handler answers 409.
var ErrNoLeases = errors.New("no lease to revoke")

// Agent is what the admin API drives. name "" selects every secret.
type Agent interface {
	Status() Status
	Refresh(ctx context.Context, name string) (RefreshResult, error)
	RevokeLeases(ctx context.Context, name string) (RevokeResult, error)
}

// Handler serves the admin API:
//
//	GET  /v1/status
//	POST /v1/refresh[?secret=NAME]
//	POST /v1/leases/revoke[?secret=NAME]
func Handler(a Agent, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	})
	mux.Handle("POST /v1/refresh", action(log, "refresh", a.Refresh))
	mux.Handle("POST /v1/leases/revoke", action(log, "revoke", a.RevokeLeases))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

// action serves one POST operation on the secret named by ?secret= (every
// secret when absent): 200 with its result, 502 with it when a secret ended
// failing, or writeError's answer when the operation did not run.
func action[R result](log *slog.Logger, op string, run func(ctx context.Context, name string) (R, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("secret")
		res, err := run(r.Context(), name)
		if err != nil {
			writeError(w, log, op, name, err)
			return
		}
		code := http.StatusOK
		if len(res.failures()) > 0 {
			code = http.StatusBadGateway
		}
		writeJSON(w, code, res)
	})
}

func writeError(w http.ResponseWriter, log *slog.Logger, op, name string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknownSecret):
		code = http.StatusNotFound
	case errors.Is(err, ErrNoLeases):
		code = http.StatusConflict
	}
	log.Warn("admin request failed", "op", op, "secret", name, "err", err)
	writeJSON(w, code, ErrorBody{Error: fmt.Sprintf("%s: %v", op, err)})
}

// writeJSON answers code with v as indented JSON, for a person with curl
// as much as for the CLI. v is encoded before the header goes out, so that
// a failure answers 500 rather than an empty body under code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
