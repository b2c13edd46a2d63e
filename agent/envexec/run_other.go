//go:build !unix

package envexec

// Run fails where there are no POSIX signals and processes: the wrapper
// runs in Linux containers; this keeps the CLI building elsewhere.
func Run(o Options) int {
	o.Log.Error("the exec wrapper runs only on Unix")
	return 1
}
