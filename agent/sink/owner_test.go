package sink

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type ids struct{ UID, GID int }

func ownerOf(t *testing.T, path string) ids {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := owner(fi)
	return ids{uid, gid}
}

func TestWriteOwner(t *testing.T) {
	me := ids{os.Geteuid(), os.Getegid()}
	tests := []struct {
		name string
		give ids
		want ids
		root bool
	}{
		{"kept when -1", ids{-1, -1}, me, false},
		{"explicitly our own", me, me, false},
		{"given away", ids{65534, 65534}, ids{65534, 65534}, true},
		{"user only", ids{65534, -1}, ids{65534, me.GID}, true},
		{"group only", ids{-1, 65534}, ids{me.UID, 65534}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("chown to another user needs root")
			}
			w, _ := newTestWriter(t)
			f := File{Path: "tls/tls.key", Data: []byte("key"), Mode: 0o400, UID: tc.give.UID, GID: tc.give.GID}
			mustWrite(t, w, f)
			if diff := cmp.Diff(tc.want, ownerOf(t, filepath.Join(w.Dir(), "tls/tls.key"))); diff != "" {
				t.Errorf("owner (-want +got):\n%s", diff)
			}
			if mustWrite(t, w, f) {
				t.Error("unchanged owner reported as a change")
			}
			w2, err := New(w.Dir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if mustWrite(t, w2, f) {
				t.Error("a new Writer saw a change in an unchanged owner")
			}
			if tc.give != me && tc.give != (ids{-1, -1}) {
				f.UID, f.GID = -1, -1
				if !mustWrite(t, w, f) {
					t.Error("owner back to the agent's own not reported as a change")
				}
				if diff := cmp.Diff(me, ownerOf(t, filepath.Join(w.Dir(), "tls/tls.key"))); diff != "" {
					t.Errorf("owner after the change (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A pod's fsGroup makes the volume setgid: files must carry that group
// and an unchanged payload must still compare equal.
func TestWriteSetgidVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs a group other than our own: run as root")
	}
	w, _ := newTestWriter(t)
	if err := os.Chown(w.Dir(), 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.Dir(), 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	files := []File{file("api-key", "k", 0o440), file("tls/ca.crt", "ca", 0o440)}
	mustWrite(t, w, files...)
	for _, p := range []string{"api-key", "tls/ca.crt"} {
		if got := ownerOf(t, filepath.Join(w.Dir(), p)); got.GID != 65534 {
			t.Errorf("%s group = %d, want the volume's 65534", p, got.GID)
		}
	}
	w2, err := New(w.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if mustWrite(t, w2, files...) {
		t.Error("unchanged payload on a setgid volume reported a change")
	}
}
