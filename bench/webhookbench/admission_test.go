package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tradepulse/secret-injector/webhook"
)

// BenchmarkAdmission is one admission of the realistic pod through the
// whole http.Handler (AdmissionReview decode, handler, encode), for our
// handler and the no-op one: allocations per admission with -benchmem.
func BenchmarkAdmission(b *testing.B) {
	body, err := reviewBody(benchPod())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range handlerNames {
		b.Run(name, func(b *testing.B) {
			h := newHandler(name)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// TestReviewInjects makes sure the benchmark measures an injection, not a
// skip or a denial: the pod must come back allowed with a patch.
func TestReviewInjects(t *testing.T) {
	body, err := reviewBody(benchPod())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	newHandler("ours").ServeHTTP(rec, req)
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch":`)) {
		t.Fatalf("want an allowed review with a patch, got %.300s", rec.Body.String())
	}
}
