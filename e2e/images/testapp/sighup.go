package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// sighupCounter counts the SIGHUPs the process receives once its handler
// is installed.
type sighupCounter struct {
	n         atomic.Int64
	installed atomic.Bool
}

// start installs the handler after delay (at once, before it returns, for
// 0) and counts until ctx ends. Before that SIGHUP has Go's default
// action: the process exits.
func (c *sighupCounter) start(ctx context.Context, delay time.Duration, log *slog.Logger) {
	ch := make(chan os.Signal, 16)
	install := func() {
		signal.Notify(ch, syscall.SIGHUP)
		c.installed.Store(true)
		log.Info("sighup handler installed")
	}
	if delay <= 0 {
		install()
	}
	go func() {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			install()
		}
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				log.Info("sighup received", "count", c.n.Add(1))
			}
		}
	}()
}

func (c *sighupCounter) count() int64 { return c.n.Load() }
