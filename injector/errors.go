package injector

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// AnnotationError is one reason to deny a pod: the annotation at fault and
// what is wrong with it. It never carries a secret value, a reference or a
// template body; it names the key instead.
type AnnotationError struct {
	// Key is the full annotation key, e.g. "secrets.tradepulse.io/mode".
	Key string
	// Reason says what is wrong and, where it helps, what would be right.
	Reason string
}

// Error reads "annotation <key>: <reason>". A key that Kubernetes would
// not accept is quoted and cut short, so that it cannot forge or flood lines.
func (e *AnnotationError) Error() string {
	key := e.Key
	if !plainKey(key) {
		key = quote(key)
	}
	return "annotation " + key + ": " + e.Reason
}

// plainKey reports whether a key can be shown as is: the characters
// Kubernetes allows in keys (and "*" for "all of ours"), at a length it
// allows.
func plainKey(k string) bool {
	return len(k) <= maxKeyLength && !strings.ContainsFunc(k, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/*", r))
	})
}

// maxKeyLength is the longest annotation key Kubernetes accepts: a 253
// character prefix, "/", a 63 character name.
const maxKeyLength = 253 + 1 + maxKeyNameLength

// maxKeyNameLength is the longest name Kubernetes accepts after a key's
// prefix.
const maxKeyNameLength = 63

// maxProblems bounds a denial's length: past it, the message would be
// unreadable anyway, and the admission response should stay small.
const maxProblems = 40

// problems collects every AnnotationError of one pod, so that a user fixes
// them all in one round.
type problems []*AnnotationError

func (p *problems) add(key, reason string) {
	*p = append(*p, &AnnotationError{Key: key, Reason: reason})
}

// err joins the problems sorted by key, then reason: annotations are a map,
// and the same pod must always get the same message.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	sorted := slices.Clone(p)
	slices.SortFunc(sorted, func(a, b *AnnotationError) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Reason, b.Reason))
	})
	sorted = slices.CompactFunc(sorted, func(a, b *AnnotationError) bool { return *a == *b })
	if len(sorted) > maxProblems {
		more := len(sorted) - maxProblems
		sorted = append(sorted[:maxProblems], &AnnotationError{Key: Prefix + "*",
			Reason: fmt.Sprintf("%d more problems not shown; fix the ones above first", more)})
	}
	errs := make([]error, len(sorted))
	for i, e := range sorted {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// suggest finds the known key closest to an unknown one ("secert-x" →
// "secret-x"), or "" when nothing is close.
func suggest(key string) string {
	rest := strings.TrimPrefix(key, Prefix)
	if !plainKey(key) {
		return ""
	}
	best, bestDist := "", 3
	try := func(candidate string, d int) {
		if d < bestDist {
			best, bestDist = candidate, d
		}
	}
	// Strings whose lengths differ by more than 2 are never within
	// distance 2: skipping them keeps this linear in the key's length.
	near := func(a, b string) bool { return len(a) <= len(b)+2 && len(b) <= len(a)+2 }
	for _, k := range podKeys {
		if k := strings.TrimPrefix(k, Prefix); near(rest, k) {
			try(Prefix+k, distance(rest, k))
		}
	}
	for _, p := range secretKeyPrefixes {
		word := strings.TrimSuffix(strings.TrimPrefix(p, Prefix), "-")
		for i := 0; i < len(rest) && i <= len(word)+2; i++ {
			if rest[i] == '-' && i+1 < len(rest) && near(rest[:i], word) {
				try(p+rest[i+1:], distance(rest[:i], word))
			}
		}
	}
	return best
}

// distance is the Levenshtein distance between two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
