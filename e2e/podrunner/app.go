package podrunner

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File is what the app sees of one secret file.
type File struct {
	Mode fs.FileMode
	Data string
}

// App stands in for the pod's application container: an HTTP server on a
// loopback port whose /-/reload counts reload calls and re-reads the
// secret files, the way an app that the agent tells by HTTP would.
type App struct {
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	dir      string
	started  bool
	atStart  map[string]File
	current  map[string]File
	reloads  int
	readErr  error
	startErr error
}

// ReloadPath is the app's reload endpoint.
const ReloadPath = "/-/reload"

// NewApp starts the app's server; the app itself "starts" when the pod
// runner calls start after the init containers and sidecars are up.
func NewApp() (*App, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &App{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc(ReloadPath, a.reload)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// ReloadURL is the value for the pod's reload annotation.
func (a *App) ReloadURL() string { return "http://" + a.ln.Addr().String() + ReloadPath }

// Close stops the server.
func (a *App) Close() { _ = a.srv.Close() }

func (a *App) start(dir string) {
	files, err := ReadSecrets(dir)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dir, a.started, a.atStart, a.current, a.startErr = dir, true, files, files, err
}

func (a *App) reload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloads++
	if a.started {
		a.current, a.readErr = ReadSecrets(a.dir)
	}
	w.WriteHeader(http.StatusNoContent)
}

// Started reports whether the runner started the app.
func (a *App) Started() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started
}

// FilesAtStart are the files the app found when it started, by path
// relative to the mount; an error if it could not read them.
func (a *App) FilesAtStart() (map[string]File, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.atStart, a.startErr
}

// Files are the files as the app read them at its last reload (or start).
func (a *App) Files() (map[string]File, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current, a.readErr
}

// Reloads counts the reload calls received.
func (a *App) Reloads() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reloads
}

// ReadSecrets reads the visible files under dir as an app does: through
// the symlinks, skipping the agent's and writer's dot files; a directory
// (a json secret) is read one level down.
func ReadSecrets(dir string) (map[string]File, error) {
	out := map[string]File{}
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(rel, e.Name())
			st, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			if st.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			out[p] = File{Mode: st.Mode().Perm(), Data: string(b)}
		}
		return nil
	}
	if err := walk(""); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return out, nil
}
