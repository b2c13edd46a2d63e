// Package notify tells the app that its secret files changed: a signal to
// a named process in the pod, an HTTP call on localhost, or nothing. The
// agent triggers a Debounced notifier on every write, so a refresh that
// rewrites several files tells the app once.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Notifier tells the app that its files changed.
type Notifier interface {
	// Notify tells the app about the changes written up to changed. A
	// process that started after changed read the new files as it
	// started and is not told; the zero time tells everyone.
	Notify(ctx context.Context, changed time.Time) error
}

// Kinds, as config.Notify.Kind reports them and as they are recorded.
const (
	KindSignal = "signal"
	KindHTTP   = "http"
	KindNone   = "none"
)

// Results passed to the record function.
const (
	ResultOK      = "ok"
	ResultError   = "error"
	ResultSkipped = "skipped"
)

// New returns the notifier cfg describes. record, if not nil, is called
// once per Notify with the kind and its result ("ok", "error", "skipped"),
// for the secret_app_notify_total counter.
func New(cfg config.Notify, log *slog.Logger, record func(kind, result string)) (Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if record == nil {
		record = func(string, string) {}
	}
	if cfg.Signal != "" && cfg.URL != "" {
		return nil, errors.New("notify: set signal or url, not both")
	}
	switch cfg.Kind() {
	case KindSignal:
		n, err := newSignal(cfg, log, record)
		if err != nil {
			return nil, err
		}
		return n, nil
	case KindHTTP:
		n, err := newHTTP(cfg, log, record)
		if err != nil {
			return nil, err
		}
		return n, nil
	}
	return none{log: log, record: record}, nil
}

// none is the notifier for apps that read their files on every use or are
// restarted by other means.
type none struct {
	log    *slog.Logger
	record func(kind, result string)
}

func (n none) Notify(context.Context, time.Time) error {
	n.log.Debug("app not notified: no signal or url configured")
	n.record(KindNone, ResultSkipped)
	return nil
}
