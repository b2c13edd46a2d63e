package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runbookPath is docs/runbook.md, which the alerts' runbook_url point at.
func runbookPath() string {
	return filepath.Join(ChartDir(), "..", "..", "docs", "runbook.md")
}

var (
	mdHeading = regexp.MustCompile(`(?m)^#{2,4} +(.+?) *$`)
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdCode    = regexp.MustCompile("(?s)```.*?```")
)

// slug is the anchor GitHub (and most Markdown renderers) give a heading:
// lower case, punctuation other than "-" and "_" dropped, spaces to "-".
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// runbookSections returns the anchors of docs/runbook.md's sections.
func runbookSections(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbookPath())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(mdCode.ReplaceAllString(string(b), ""), -1) {
		out[slug(m[1])] = true
	}
	return out
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"SecretRefreshFailing":                 "secretrefreshfailing",
		"The webhook's outage model, in short": "the-webhooks-outage-model-in-short",
		"`up` and kube-state-metrics":          "up-and-kube-state-metrics",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunbookLinks: every link in the runbook stays in the repository:
// a section of the runbook itself, or a file of the repository.
func TestRunbookLinks(t *testing.T) {
	b, err := os.ReadFile(runbookPath())
	if err != nil {
		t.Fatal(err)
	}
	sections := runbookSections(t)
	for _, m := range mdLink.FindAllStringSubmatch(mdCode.ReplaceAllString(string(b), ""), -1) {
		target := m[1]
		file, anchor, _ := strings.Cut(target, "#")
		switch {
		case strings.Contains(target, "://") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "mailto:"):
			t.Errorf("link %s leaves the repository", target)
		case file == "":
			if !sections[anchor] {
				t.Errorf("link %s: no such section", target)
			}
		default:
			if _, err := os.Stat(filepath.Join(filepath.Dir(runbookPath()), file)); err != nil {
				t.Errorf("link %s: %v", target, err)
			}
		}
	}
}
