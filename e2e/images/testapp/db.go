package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbTimeout bounds one /db check, connection included.
const dbTimeout = 15 * time.Second

// errBadRequest marks a request error (400), as opposed to a failure to
// connect (502).
var errBadRequest = errors.New("bad request")

// errNoDB: /db without --pg-addr (503).
var errNoDB = errors.New("no --pg-addr: the app has no database")

func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errNoDB):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// dbCreds is Vault's database/creds data as the agent writes it in the raw
// format: the JSON of the data map.
type dbCreds struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// readCreds reads the credentials file name, a path under dir.
func readCreds(dir, name string) (dbCreds, error) {
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
		return dbCreds{}, fmt.Errorf("%w: file=%q: want a path under %s", errBadRequest, name, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.Clean(name)))
	if err != nil {
		return dbCreds{}, fmt.Errorf("read %s: %s", name, errText(err))
	}
	var c dbCreds
	if err := json.Unmarshal(b, &c); err != nil {
		// The decoder's message could quote the file; say only where.
		return dbCreds{}, fmt.Errorf("%s is not a JSON object of username and password", name)
	}
	if c.Username == "" || c.Password == "" {
		return dbCreds{}, fmt.Errorf("%s has no username or no password", name)
	}
	return c, nil
}

// readCredsDir reads the credentials as format json writes them: one file
// per field, dir/username and dir/password.
func readCredsDir(dir, sub string) (dbCreds, error) {
	if sub == "" || filepath.IsAbs(sub) || strings.HasPrefix(filepath.Clean(sub), "..") {
		return dbCreds{}, fmt.Errorf("%w: dir=%q: want a path under %s", errBadRequest, sub, dir)
	}
	var c dbCreds
	for _, f := range []struct {
		name string
		into *string
	}{{"username", &c.Username}, {"password", &c.Password}} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Clean(sub), f.name))
		if err != nil {
			return dbCreds{}, fmt.Errorf("read %s/%s: %s", sub, f.name, errText(err))
		}
		*f.into = strings.TrimSpace(string(b))
	}
	if c.Username == "" || c.Password == "" {
		return dbCreds{}, fmt.Errorf("%s has an empty username or password", sub)
	}
	return c, nil
}

// currentUser connects with the credentials of file (one JSON object) or
// dir (a file per field) and returns what PostgreSQL says the session's
// user is.
func currentUser(ctx context.Context, o options, file, dir string) (string, error) {
	if o.pgAddr == "" {
		return "", errNoDB
	}
	var creds dbCreds
	var err error
	if dir != "" {
		creds, err = readCredsDir(o.dir, dir)
	} else {
		creds, err = readCreds(o.dir, file)
	}
	if err != nil {
		return "", err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s/%s?sslmode=%s&connect_timeout=10",
		o.pgAddr, url.PathEscape(o.pgDB), url.QueryEscape(o.pgSSLMode)))
	if err != nil {
		return "", fmt.Errorf("%w: --pg-addr/--pg-db: %v", errBadRequest, err)
	}
	cfg.User, cfg.Password = creds.Username, creds.Password
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect to %s as %s: %w", o.pgAddr, creds.Username, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var user string
	if err := conn.QueryRow(ctx, "select current_user").Scan(&user); err != nil {
		return "", fmt.Errorf("select current_user: %w", err)
	}
	return user, nil
}
