package injector

import (
	"os"
	"strings"
	"testing"
)

// Every key the injector reads has a row in ANNOTATIONS.md's tables: a
// user who meets a key in a denial finds it there.
func TestEveryKeyHasARowInANNOTATIONS(t *testing.T) {
	doc, err := os.ReadFile("ANNOTATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range podKeys {
		if row := "| `" + strings.TrimPrefix(k, Prefix) + "` |"; !strings.Contains(string(doc), row) {
			t.Errorf("ANNOTATIONS.md has no row %q", row)
		}
	}
	for _, p := range secretKeyPrefixes {
		if row := "| `" + strings.TrimPrefix(p, Prefix) + "<name>` |"; !strings.Contains(string(doc), row) {
			t.Errorf("ANNOTATIONS.md has no row %q", row)
		}
	}
}
