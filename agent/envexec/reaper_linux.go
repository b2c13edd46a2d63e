package envexec

import "golang.org/x/sys/unix"

// becomeSubreaper makes the wrapper the parent of the app's orphaned
// processes, as PID 1 is anyway, so that it reaps them (no zombies) even
// where it is not PID 1.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
