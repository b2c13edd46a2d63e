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
	mux.HandleFunc("POST /v1/refresh", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("secret")
		res, err := a.Refresh(r.Context(), name)
		if err != nil {
			writeError(w, log, "refresh", name, err)
			return
		}
		code := http.StatusOK
		for _, s := range res.Secrets {
			if !s.OK {
				code = http.StatusBadGateway
			}
		}
		writeJSON(w, code, res)
	})
	mux.HandleFunc("POST /v1/leases/revoke", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("secret")
		res, err := a.RevokeLeases(r.Context(), name)
		if err != nil {
			writeError(w, log, "revoke", name, err)
			return
		}
		code := http.StatusOK
		for _, rv := range res.Revoked {
			if rv.Error != "" {
				code = http.StatusBadGateway
			}
		}
		writeJSON(w, code, res)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return mux
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
