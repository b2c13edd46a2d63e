package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrSecretFailing is matched (errors.Is) by the error a Client returns
// when the agent answered 502: the request ran, but a secret ended failing
// or a revoked lease could not be replaced. The result is returned as well.
var ErrSecretFailing = errors.New("secret failing")

// maxBody bounds what the client reads from an agent: a status of a few
// hundred secrets is far below it.
const maxBody = 4 << 20

// Client talks to one agent's admin API. The operator CLI reaches the agent
// through a port-forward, so BaseURL is usually a local ephemeral port.
type Client struct {
	// HTTP sends the requests; nil means http.DefaultClient. Deadlines come
	// from the context of each call.
	HTTP *http.Client
	// BaseURL is the agent's admin address, e.g. "http://127.0.0.1:9101".
	BaseURL string
}

// APIError is a non-2xx answer from the agent.
type APIError struct {
	// Op is the operation: "status", "refresh" or "revoke".
	Op string
	// StatusCode is the HTTP status the agent answered.
	StatusCode int
	// Message is the agent's error, or for a 502 the failing secrets and
	// why.
	Message string
	// fromAgent is true when the body was the agent's own JSON, so that a
	// 404 from something else (an old agent, a proxy) is not mistaken for
	// an unknown secret.
	fromAgent bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: agent answered %d %s: %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is maps the agent's status codes back to the handler's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrSecretFailing:
		return e.fromAgent && e.StatusCode == http.StatusBadGateway
	case ErrUnknownSecret:
		return e.fromAgent && e.StatusCode == http.StatusNotFound
	case ErrNoLeases:
		return e.fromAgent && e.StatusCode == http.StatusConflict
	}
	return false
}

// Status fetches GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	_, err := c.do(ctx, "status", http.MethodGet, "/v1/status", "", &s)
	return s, err
}

// Refresh asks the agent to fetch secret now (every secret when secret is
// ""). When a secret ends failing the result is returned with an error
// matching ErrSecretFailing that names each failing secret and why.
func (c *Client) Refresh(ctx context.Context, secret string) (RefreshResult, error) {
	return post[RefreshResult](ctx, c, "refresh", "/v1/refresh", secret)
}

// RevokeLeases asks the agent to revoke the lease of secret (every leased
// secret when secret is "") and fetch fresh credentials. An agent holding
// no lease gives an error matching ErrNoLeases; a revocation or replacement
// that failed gives the result and an error matching ErrSecretFailing.
func (c *Client) RevokeLeases(ctx context.Context, secret string) (RevokeResult, error) {
	return post[RevokeResult](ctx, c, "revoke", "/v1/leases/revoke", secret)
}

// post runs one operation; an answer of 502 gives its result and an error
// naming the secrets that failed.
func post[R result](ctx context.Context, c *Client, op, path, secret string) (R, error) {
	var res R
	code, err := c.do(ctx, op, http.MethodPost, path, secret, &res)
	if err == nil && code == http.StatusBadGateway {
		err = &APIError{Op: op, StatusCode: code, Message: failureMessage(res.failures()), fromAgent: true}
	}
	return res, err
}

func failureMessage(failing []string) string {
	if len(failing) == 0 {
		return "the agent reported a failure without naming a secret"
	}
	return strings.Join(failing, "; ")
}

// do sends one request and decodes a 200 or 502 body into out. Any other
// answer becomes an *APIError. It returns the status code.
func (c *Client) do(ctx context.Context, op, method, path, secret string, out any) (int, error) {
	u, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + path)
	if err != nil {
		return 0, fmt.Errorf("%s: agent address %q: %w", op, c.BaseURL, err)
	}
	if secret != "" {
		u.RawQuery = url.Values{"secret": {secret}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: agent unreachable: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: reading the agent's answer: %w", op, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusBadGateway:
		if err := json.Unmarshal(body, out); err == nil {
			return resp.StatusCode, nil
		} else if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, fmt.Errorf("%s: the agent's answer is not valid JSON: %w", op, err)
		}
	}
	return resp.StatusCode, apiError(op, resp.StatusCode, body)
}

func apiError(op string, code int, body []byte) *APIError {
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error != "" {
		// The handler prefixes its own op name; say it once.
		return &APIError{Op: op, StatusCode: code, Message: strings.TrimPrefix(eb.Error, op+": "), fromAgent: true}
	}
	msg := string(bytes.TrimSpace(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = "empty body"
	}
	return &APIError{Op: op, StatusCode: code, Message: msg}
}
