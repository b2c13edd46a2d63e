package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/tradepulse/secret-injector/webhook"
)

// result is one load's figures.
type result struct {
	Throughput float64 `json:"throughputPerSecond"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
}

// client POSTs one AdmissionReview to a server.
type client struct {
	http *http.Client
	url  string
	body []byte
}

func newClient(addr string, pool *x509.CertPool, h2 bool, body []byte) *client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   h2,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 2048,
		IdleConnTimeout:     time.Minute,
	}
	return &client{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, url: "https://" + addr + webhook.Path, body: body}
}

// post sends one review and checks that the answer is an allowed review.
// wantPatch says whether a JSON patch must come back.
func (c *client) post(ctx context.Context, wantPatch bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if !wantPatch {
		return nil
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rev); err != nil {
		return err
	}
	if rev.Response == nil || !rev.Response.Allowed || len(rev.Response.Patch) == 0 {
		return errors.New("response is not an allowed review with a patch")
	}
	return nil
}

// openLoop sends rate requests per second for d, each at its intended
// time, and measures latency from that time.
func (c *client) openLoop(rate int, d time.Duration) result {
	n := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		intended := start.Add(time.Duration(i) * interval)
		if w := time.Until(intended); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.post(context.Background(), false); err != nil {
				errs.Add(1)
			}
			lat[i] = time.Since(intended)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return summarize(lat, int(errs.Load()), elapsed)
}

// closedLoop runs workers that each send as soon as the last answer came,
// for d.
func (c *client) closedLoop(workers int, d time.Duration) result {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := c.post(context.Background(), false); err != nil {
					errs.Add(1)
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(all, int(errs.Load()), time.Since(start))
}

func summarize(lat []time.Duration, errs int, elapsed time.Duration) result {
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := min(len(lat)-1, int(p*float64(len(lat))))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	return result{
		Throughput: float64(len(lat)-errs) / elapsed.Seconds(),
		P50Ms:      q(0.50), P99Ms: q(0.99),
		Requests: len(lat), Errors: errs,
	}
}
