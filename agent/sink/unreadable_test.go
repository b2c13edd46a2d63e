package sink

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// helperEnv makes the test binary run unreadableHelper instead of tests.
const helperEnv = "SINK_TEST_UNREADABLE_VOLUME"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		if err := unreadableHelper(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A hardened agent runs as a plain user with CAP_CHOWN only: it gives the
// files to the app's user and then may not read them back. An unchanged
// payload must still be recognised, or every poll would rewrite and
// signal the app.
func TestUnchangedWhenFilesAreUnreadable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a helper as another user with CAP_CHOWN")
	}
	root := tempDir(t)
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "sink.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(root, "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(vol, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{helperEnv + "=" + vol}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: []uintptr{0}, // CAP_CHOWN
	}
	outText, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Skipf("cannot start a helper with CAP_CHOWN here: %v", err)
		}
		t.Fatalf("helper: %v\n%s", err, outText)
	}
}

func unreadableHelper(dir string) error {
	f := File{Path: "tls/tls.key", Data: []byte("key"), Mode: 0o400, UID: 1000, GID: 1000}
	w, err := New(dir, nil)
	if err != nil {
		return err
	}
	if changed, err := w.Write([]File{f}); err != nil || !changed {
		return fmt.Errorf("first write: changed=%v err=%v", changed, err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, f.Path)); err == nil {
		return fmt.Errorf("the helper can read the file it gave away: the test proves nothing")
	}
	if changed, err := w.Write([]File{f}); err != nil || changed {
		return fmt.Errorf("unchanged write: changed=%v err=%v, want false", changed, err)
	}
	f.Data = []byte("KEY")
	if changed, err := w.Write([]File{f}); err != nil || !changed {
		return fmt.Errorf("changed bytes: changed=%v err=%v, want true", changed, err)
	}
	// A restarted agent cannot read the bytes and has no memory of them:
	// it rewrites once, then recognises its own write.
	w2, err := New(dir, nil)
	if err != nil {
		return err
	}
	if _, err := w2.Write([]File{f}); err != nil {
		return err
	}
	if changed, err := w2.Write([]File{f}); err != nil || changed {
		return fmt.Errorf("restarted writer, second write: changed=%v err=%v, want false", changed, err)
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
