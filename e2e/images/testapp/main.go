// Command testapp is the "user's app" of the e2e bed on a real cluster: it
// runs in an injected pod and tells the suite, over HTTP, what an app sees.
//
//	GET /files             file name -> sha256 hex of every regular file under
//	                       --dir (the secrets volume), never a content
//	GET /sighups           how many SIGHUPs it received, and whether its
//	                       handler is installed yet
//	GET /env[?sha256=A,B]  the names of its environment variables, its ids
//	                       and pid, and the sha256 hex of the values of the
//	                       variables named (env mode), never a value
//	GET /db?file=NAME      connects to PostgreSQL (--pg-addr, --pg-db) with the
//	                       credentials in the JSON file NAME under --dir and
//	                       returns `select current_user`
//	GET /read-agent-token  for each secret-injector process it can see (a
//	                       shared process namespace), whether it can read the
//	                       agent's service-account token through /proc/PID/root
//	GET /healthz           ok
//
// Until --sighup-handler-delay has passed, SIGHUP kills it (Go's default):
// a reload signal sent before the app is ready shows as a restart.
//
// Image: localhost/secret-injector/testapp:v1, entrypoint /testapp, user
// 10001:10001 (`make test-images`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	listen       string
	dir          string
	sighupDelay  time.Duration
	pgAddr       string
	pgDB         string
	pgSSLMode    string
	shutdownWait time.Duration
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil && !errors.Is(err, flag.ErrHelp) {
		log.Error("testapp failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", ":8080", "HTTP address")
	fs.StringVar(&o.dir, "dir", "/secrets", "the secrets volume")
	fs.DurationVar(&o.sighupDelay, "sighup-handler-delay", 0, "how long SIGHUP keeps its default action (the process dies) before the counting handler is installed")
	fs.StringVar(&o.pgAddr, "pg-addr", "", "PostgreSQL host:port for /db")
	fs.StringVar(&o.pgDB, "pg-db", "postgres", "PostgreSQL database for /db")
	fs.StringVar(&o.pgSSLMode, "pg-sslmode", "disable", "PostgreSQL sslmode for /db")
	fs.DurationVar(&o.shutdownWait, "shutdown-timeout", 5*time.Second, "graceful shutdown bound")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

func run(args []string, log *slog.Logger) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	hups := &sighupCounter{}
	hups.start(ctx, o.sighupDelay, log)

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(o, hups, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	log.Info("testapp listening", "addr", ln.Addr().String(), "dir", o.dir, "sighup_handler_delay", o.sighupDelay.String(), "uid", os.Getuid(), "gid", os.Getgid())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("testapp shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer cancel()
	return srv.Shutdown(sctx)
}
