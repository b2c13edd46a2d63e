package envexec

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InstallMode is the copied binary's mode: any uid may run it, since the
// app's uid is not the agent's, and nobody may change it. The binary is
// not secret.
const InstallMode = 0o555

// Install copies the running executable to dst, for env mode: the agent's
// init container puts itself where the app container finds it, in a volume
// the app mounts read-only. The copy is written beside dst and renamed
// over it, so a restarted init container replaces it whole.
func Install(dst string) (err error) {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install exec wrapper: find this binary: %w", err)
	}
	return copyExecutable(self, dst)
}

func copyExecutable(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("install exec wrapper: copy to %s: %w", dst, err)
	}
	if err = tmp.Chmod(InstallMode); err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install exec wrapper: %w", err)
	}
	return nil
}
