package agent

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// TestCertRenewAt is the schedule's property test, after Vault's
// TestCalcSleepPeriod: for any validity, time obtained and jitter, the
// renewal is at or before 2/3 of the validity and within its last third
// less a tenth — unless that is less than minCertRenewDelay after
// obtaining it, which is the floor — and never before it was obtained.
func TestCertRenewAt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		life := time.Duration(r.Int64N(int64(48 * time.Hour)))
		v := backend.Validity{NotBefore: base, NotAfter: base.Add(life)}
		obtained := base.Add(time.Duration(r.Int64N(int64(life) + 1)))
		jitter := time.Duration(r.Int64N(int64(life/5) + 1)) // up to twice what certJitter draws
		if i%2 == 0 {
			jitter = certJitter(v)
		}
		at := certRenewAt(v, obtained, jitter)
		twoThirds := v.NotBefore.Add(life * 2 / 3)
		floor := obtained.Add(minCertRenewDelay)
		switch {
		case at.Before(obtained):
			t.Fatalf("life %s obtained +%s: renews at +%s, before it was obtained", life, obtained.Sub(base), at.Sub(base))
		case at.Equal(floor):
		case at.After(twoThirds):
			t.Fatalf("life %s jitter %s: renews at +%s, after 2/3 (+%s)", life, jitter, at.Sub(base), twoThirds.Sub(base))
		case at.Before(v.NotBefore.Add(life*2/3 - life/10)):
			t.Fatalf("life %s jitter %s: renews at +%s, earlier than 2/3 less a tenth", life, jitter, at.Sub(base))
		}
		if floor.Before(v.NotAfter) && !at.Before(v.NotAfter) {
			t.Fatalf("life %s obtained +%s: renews at +%s, not before it expires", life, obtained.Sub(base), at.Sub(base))
		}
	}
}

// A 30 s certificate from Vault (NotBefore backdated 30 s) obtained now is
// renewed 4–10 s from now: 2/3 of its 60 s validity, less up to 6 s.
func TestCertRenewAtVaultBackdating(t *testing.T) {
	now := time.Now()
	v := backend.Validity{NotBefore: now.Add(-30 * time.Second), NotAfter: now.Add(30 * time.Second)}
	for range 1000 {
		d := certRenewAt(v, now, certJitter(v)).Sub(now)
		if d < 4*time.Second || d > 10*time.Second {
			t.Fatalf("renews %s after issue, want 4s–10s", d)
		}
	}
}
