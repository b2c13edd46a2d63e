package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
)

func newHandler(o options, hups *sighupCounter, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /files", func(w http.ResponseWriter, _ *http.Request) {
		files, err := hashFiles(o.dir)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, files)
	})
	mux.HandleFunc("GET /sighups", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"sighups": hups.count(), "handler_installed": hups.installed.Load()})
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		// Names only: a value could be a secret an injector put there.
		var names []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		sort.Strings(names)
		// ?sha256=A,B: the sha256 of each variable that is set (env
		// mode's check), never its value.
		sums := map[string]string{}
		for _, name := range strings.Split(r.URL.Query().Get("sha256"), ",") {
			if v, ok := os.LookupEnv(name); ok && name != "" {
				sums[name] = sha256Hex([]byte(v))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"names": names, "sha256": sums, "uid": os.Getuid(), "gid": os.Getgid(), "pid": os.Getpid()})
	})
	mux.HandleFunc("GET /statfs", func(w http.ResponseWriter, r *http.Request) {
		info, err := statFS(r.URL.Query().Get("path"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /db", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		where := q.Get("file") + q.Get("dir")
		user, err := currentUser(r.Context(), o, q.Get("file"), q.Get("dir"))
		if err != nil {
			log.Warn("db check failed", "from", where, "err", err)
			writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
			return
		}
		log.Info("db check", "from", where, "current_user", user)
		writeJSON(w, http.StatusOK, map[string]string{"current_user": user})
	})
	mux.HandleFunc("GET /read-agent-token", func(w http.ResponseWriter, _ *http.Request) {
		res, err := readAgentTokens("/proc")
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"agents": res})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
