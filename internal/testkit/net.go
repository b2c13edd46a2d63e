package testkit

import (
	"context"
	"io"
	"net"
	"net/http"
)

// maxBody bounds the body Call reads: a metrics page or an admin answer
// is far smaller, and a runaway server cannot grow the test's memory.
const maxBody = 8 << 20

// FreeAddr returns a 127.0.0.1:port that was free a moment ago, for a
// process the test starts to listen on.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Call sends a request without a body (method to url) and returns the
// answer's status code and body, of which it reads at most 8 MiB. Any
// status is an answer: the caller decides which it expects.
func Call(ctx context.Context, method, url string) (status int, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, string(b), err
}
