package e2e

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/e2e/demo"
)

// TestDemo runs `make demo`'s walk-through on the suite's bed, on Vault
// when the bed has it: it must pass its own checks and print no secret
// value.
func TestDemo(t *testing.T) {
	t.Parallel() // after the sequential tests (TestAdmission stops the webhook), alongside the others marked so
	b := needBed(t)
	printWebhookLogsOnFailure(t)
	ctx := testContext(t, 3*time.Minute)
	var out bytes.Buffer
	var values []string
	start := time.Now()
	d, err := demo.Run(ctx, b, demo.Options{Out: &out, Secret: func(v string) { values = append(values, v) }})
	if d != nil {
		t.Cleanup(func() {
			d.Close()
			logs := d.Logs()
			for _, v := range values {
				if v != "" && strings.Contains(logs, v) {
					t.Errorf("a secret value appears in the demo pods' logs")
				}
			}
			if t.Failed() {
				t.Logf("demo pods' logs:\n%s", logs)
			}
		})
	}
	if err != nil {
		t.Fatalf("demo: %v\noutput:\n%s", err, out.String())
	}
	t.Logf("walk-through in %s", time.Since(start).Round(100*time.Millisecond))
	for _, v := range values {
		if v != "" && strings.Contains(out.String(), v) {
			t.Errorf("the demo printed a secret value")
		}
	}
	if testing.Verbose() {
		t.Logf("output:\n%s", out.String())
	}
}
