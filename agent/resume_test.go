package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// A state file the agent cannot trust must not wedge it: whatever the
// state says, the sidecar starts fresh, writes every secret, becomes
// ready, and says why it ignored the state without repeating its content.
func TestInvalidStateIsIgnored(t *testing.T) {
	const apiKeyRef = "tradepulse/exchanges/binance/api-key"
	// valid is the state an init container would have written for api-key.
	valid := func(version string) savedSecret {
		return savedSecret{Version: version, Files: []savedFile{{Path: "api-key", Mode: 0o400, UID: -1, GID: -1}}}
	}
	for _, tc := range []struct {
		name string
		// state edits the valid state, or returns raw bytes to write.
		state func(s *savedState, version string) []byte
		want  string // in the warning
	}{
		{
			name: "path escaping the volume",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files[0].Path = "../outside"
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "files[0].path is not a relative path inside the volume",
		},
		{
			name: "absolute path",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files[0].Path = "/etc/hostname"
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "files[0].path is not a relative path inside the volume",
		},
		{
			name: "another secret's path",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files[0].Path = "mlflow.env"
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "files[0].path lies outside the secret's own name",
		},
		{
			name: "path listed twice",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files = append(sec.Files, sec.Files[0])
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "files[1].path is listed twice",
		},
		{
			name: "setuid mode",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files[0].Mode = 0o400 | os.ModeSetuid
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "files[0].mode has bits other than permissions",
		},
		{
			name: "negative uid",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Files[0].UID = -7
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "uid and gid must be -1 or more",
		},
		{
			name: "lease id with a newline",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Lease = &savedLease{ID: "database/creds/app/x\nlevel=ERROR msg=forged", Renewable: true}
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "secret api-key: lease id is empty, too long or holds characters other than printable ASCII",
		},
		{
			name: "empty lease id",
			state: func(s *savedState, v string) []byte {
				sec := valid(v)
				sec.Lease = &savedLease{}
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "secret api-key: lease id is empty",
		},
		{
			name: "version with control characters",
			state: func(s *savedState, v string) []byte {
				sec := valid(v + "\x1b[2J")
				s.Secrets["api-key"] = sec
				return nil
			},
			want: "secret api-key: version is too long",
		},
		{
			name: "unknown secret",
			state: func(s *savedState, v string) []byte {
				s.Secrets["api-key"] = valid(v)
				s.Secrets["../../etc"] = valid(v)
				return nil
			},
			want: "an entry names a secret the config does not have",
		},
		{
			name:  "not JSON",
			state: func(*savedState, string) []byte { return []byte(`{"secrets": {"api-key": `) },
			want:  "ignoring unreadable agent state",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				seed(f)
				h := newHarness(t, f, f, nil)
				// What the volume holds: api-key as the init container wrote
				// it, and whatever the bad state points at.
				for _, p := range []string{filepath.Join(h.dir, "api-key"), filepath.Join(h.dir, "mlflow.env"),
					filepath.Join(h.dir, "..", "outside")} {
					if err := os.WriteFile(p, []byte("key-"+sentinel), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				// The version the backend holds, so that nothing but the
				// state's own problem decides whether it is resumed.
				version, err := f.Version(context.Background(), apiKeyRef)
				if err != nil {
					t.Fatal(err)
				}
				s := savedState{Secrets: map[string]savedSecret{}}
				data := tc.state(&s, version)
				if data == nil {
					if data, err = json.Marshal(s); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(h.dir, StateFile), data, 0o400); err != nil {
					t.Fatal(err)
				}

				stop := h.runSidecar(t.Context())
				defer stop()
				synctest.Wait()
				if !h.agent.Ready() {
					t.Errorf("not ready after the first pass; logs:\n%s", h.logs)
				}
				h.mustRead("api-key", "key-"+sentinel)
				h.mustRead("postgres-tls/tls.key", "KEY-"+sentinel)
				h.mustRead("mlflow.env", "MLFLOW_TRACKING_PASSWORD="+sentinel+"\nMLFLOW_TRACKING_URI=http://mlflow:5000\n")
				for _, st := range h.agent.Status().Secrets {
					if !st.OK {
						t.Errorf("secret %s not ok: %s", st.Name, st.LastError)
					}
					if st.Lease != nil {
						t.Errorf("secret %s resumed lease %q from an invalid state", st.Name, st.Lease.ID)
					}
				}
				logs := h.logs.String()
				if !strings.Contains(logs, tc.want) {
					t.Errorf("logs do not say %q:\n%s", tc.want, logs)
				}
				if strings.Contains(logs, sentinel) || strings.Contains(logs, "forged") || strings.Contains(logs, "../../etc") {
					t.Errorf("logs repeat the state's content:\n%s", logs)
				}
			})
		})
	}
}
