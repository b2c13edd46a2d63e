package podrunner

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Scrape fetches the container's /metrics as Prometheus would.
func (c *Container) Scrape(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	code, text, err := testkit.Call(ctx, http.MethodGet, "http://"+c.MetricsAddr+"/metrics")
	if err == nil && code != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d %s", code, http.StatusText(code))
	}
	return text, err
}

// Metric returns the value of the sample of name whose labels include
// every pair of labels; ok is false when there is none.
func Metric(text, name string, labels map[string]string) (v float64, ok bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		head := line[:i]
		match := true
		for k, want := range labels {
			if !strings.Contains(head, k+`="`+want+`"`) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		return f, true
	}
	return 0, false
}

// Metric scrapes and returns one sample (see the Metric function).
func (c *Container) Metric(ctx context.Context, name string, labels map[string]string) (float64, bool, error) {
	text, err := c.Scrape(ctx)
	if err != nil {
		return 0, false, err
	}
	v, ok := Metric(text, name, labels)
	return v, ok, nil
}

// Admin calls the container's admin API (method, path such as
// "/v1/leases/revoke") and returns the status code and body.
func (c *Container) Admin(ctx context.Context, method, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return testkit.Call(ctx, method, "http://"+c.AdminAddr+path)
}
