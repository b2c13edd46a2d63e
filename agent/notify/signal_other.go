//go:build !unix

package notify

import (
	"errors"
	"log/slog"

	"github.com/tradepulse/secret-injector/agent/config"
)

// newSignal fails where there are no POSIX signals; the agent runs on
// Linux, this keeps the CLI building elsewhere.
func newSignal(config.Notify, *slog.Logger, func(kind, result string)) (Notifier, error) {
	return nil, errors.New("notify.signal: signals are supported only on Unix")
}
