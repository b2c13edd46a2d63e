package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository's root: the tests run in docs/.
const root = ".."

// TestLinks: every link of the repository's Markdown (README.md, docs/,
// injector/ANNOTATIONS.md, the chart's README and the rest) points at a
// file of the repository, every #anchor at a heading of that file, and
// none at another site: the docs must stay whole when read from a clone.
func TestLinks(t *testing.T) {
	files, err := markdownFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"README.md", "docs/runbook.md", "injector/ANNOTATIONS.md", "charts/secret-injector/README.md"} {
		if !slices.Contains(files, must) {
			t.Errorf("%s was not checked; has the walk changed?", must)
		}
	}
	for _, p := range checkTree(root) {
		t.Error(p)
	}
}

// TestEveryDocReachableFromREADME: a reader who starts at README.md finds
// every page under docs/ by following links.
func TestEveryDocReachableFromREADME(t *testing.T) {
	seen := map[string]bool{}
	queue := []string{"README.md"}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f] || !strings.HasSuffix(f, ".md") {
			continue
		}
		seen[f] = true
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		for _, l := range links(string(b)) {
			file, _, _ := strings.Cut(l.target, "#")
			if file == "" || external(l.target) {
				continue
			}
			if p, err := url.PathUnescape(file); err == nil {
				queue = append(queue, filepath.ToSlash(filepath.Join(filepath.Dir(f), p)))
			}
		}
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, p := range pages {
		rel := "docs/" + filepath.Base(p)
		if !seen[rel] {
			t.Errorf("%s is not reachable by links from README.md", rel)
		}
	}
}

// TestCitedDocsExist: code, chart and script files that cite a page of
// docs/ (a Go comment's "(docs/performance.md)", the alerts' runbook_url
// docs/runbook.md#<alert>) cite one that exists, and a section it has.
func TestCitedDocsExist(t *testing.T) {
	cite := regexp.MustCompile(`\bdocs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+))?`)
	n := 0
	err := walk(root, func(rel string) error {
		switch filepath.Ext(rel) {
		case ".go", ".yaml", ".yml", ".json", ".sh", ".tpl", ".txt":
		default:
			if base := filepath.Base(rel); base != "Makefile" && base != "Dockerfile" {
				return nil
			}
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, m := range cite.FindAllStringSubmatch(string(b), -1) {
			n++
			doc := filepath.Join(root, "docs", m[1])
			md, err := os.ReadFile(doc)
			if err != nil {
				t.Errorf("%s cites docs/%s, which does not exist", rel, m[1])
				continue
			}
			if m[2] != "" && !anchors(string(md))[m[2]] {
				t.Errorf("%s cites docs/%s#%s: no such heading", rel, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no file cites docs/: has the layout changed?")
	}
}

// TestCheckerFindsBrokenLinks: the checker itself reports each kind of
// broken link, and nothing for good ones.
func TestCheckerFindsBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sub/b.md", "# B\n\n## `gcp` — Google Secret Manager\n\n## Twice\n\n## Twice\n")
	write("code.go", "package x\n")
	write("README.md", strings.Join([]string{
		"# Top",
		"## Env mode: for apps that read only their environment",
		"Good: [self](#top), [b](sub/b.md), [gcp](sub/b.md#gcp--google-secret-manager),",
		"[second](sub/b.md#twice-1), [code](code.go), [dir](sub/), [env](#env-mode-for-apps-that-read-only-their-environment).",
		"Plain text github.com/spf13/cobra and `https://in.a.code.span` are fine.",
		"```sh",
		"curl https://in.a.fence [x](nowhere.md)",
		"```",
		"Bad: [gone](missing.md), [anchor](sub/b.md#nope), [here](#nowhere),",
		"[site](https://example.com/x), <http://127.0.0.1:9101/v1/status>,",
		"a bare https://example.org/page, [up](../outside.md), [code anchor](code.go#L1)",
		"[ref]: https://example.net/",
	}, "\n"))
	got := checkTree(dir)
	want := []string{
		"README.md:9: [gone](missing.md): no such file",
		"README.md:9: [anchor](sub/b.md#nope): sub/b.md has no heading #nope",
		"README.md:9: [here](#nowhere): README.md has no heading #nowhere",
		"README.md:10: [site](https://example.com/x): points outside the repository",
		"README.md:10: <http://127.0.0.1:9101/v1/status>: points outside the repository",
		"README.md:11: https://example.org/page: a bare URL points outside the repository (GitHub links it)",
		"README.md:11: [up](../outside.md): leaves the repository",
		"README.md:11: [code anchor](code.go#L1): an anchor into code.go, which is not Markdown",
		"README.md:12: [ref]: https://example.net/: points outside the repository",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("checker reported:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"SecretRefreshFailing":                                  "secretrefreshfailing",
		"The webhook's outage model, in short":                  "the-webhooks-outage-model-in-short",
		"`gcp` — Google Secret Manager":                         "gcp--google-secret-manager",
		"Who the agent runs as, and who owns the files":         "who-the-agent-runs-as-and-who-owns-the-files",
		"Certificates (Vault PKI)":                              "certificates-vault-pki",
		"TLS modes (`tls.mode`)":                                "tls-modes-tlsmode",
		"1. Build the image":                                    "1-build-the-image",
		"[Links](elsewhere.md) *emphasis* and snake_case":       "links-emphasis-and-snake_case",
		"Agent memory: 24.5 MiB, three quarters of it the page": "agent-memory-245-mib-three-quarters-of-it-the-page",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkTree checks every Markdown file under dir and returns one line per
// problem: "file:line: link: what is wrong".
func checkTree(dir string) []string {
	files, err := markdownFiles(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, l := range links(string(b)) {
			if p := checkLink(dir, f, l); p != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", f, l.line, l.text, p))
			}
		}
	}
	return problems
}

// checkLink says what is wrong with link l of file f (relative to dir),
// or "" if nothing.
func checkLink(dir, f string, l link) string {
	if l.bare {
		return "a bare URL points outside the repository (GitHub links it)"
	}
	if external(l.target) {
		return "points outside the repository"
	}
	file, anchor, _ := strings.Cut(l.target, "#")
	target := f
	if file != "" {
		p, err := url.PathUnescape(file)
		if err != nil {
			return err.Error()
		}
		if strings.HasPrefix(p, "/") {
			target = filepath.Clean(strings.TrimPrefix(p, "/"))
		} else {
			target = filepath.Join(filepath.Dir(f), p)
		}
		if target == ".." || strings.HasPrefix(target, ".."+string(filepath.Separator)) {
			return "leaves the repository"
		}
		if _, err := os.Stat(filepath.Join(dir, target)); err != nil {
			return "no such file"
		}
	}
	if anchor == "" {
		return ""
	}
	if !strings.HasSuffix(target, ".md") {
		return "an anchor into " + filepath.ToSlash(target) + ", which is not Markdown"
	}
	md, err := os.ReadFile(filepath.Join(dir, target))
	if err != nil {
		return err.Error()
	}
	if !anchors(string(md))[anchor] {
		return filepath.ToSlash(target) + " has no heading #" + anchor
	}
	return ""
}

// external reports whether a link target names a scheme (https:, mailto:)
// or another host (//host/path).
func external(target string) bool {
	return schemeRE.MatchString(target) || strings.HasPrefix(target, "//")
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// markdownFiles lists the Markdown files under dir, slash-separated and
// relative to it.
func markdownFiles(dir string) ([]string, error) {
	var out []string
	err := walk(dir, func(rel string) error {
		if strings.HasSuffix(rel, ".md") {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// walk calls fn with every file under dir (slash-separated, relative),
// skipping hidden directories (.git, and the git-ignored .bench and
// .chaos output), bin/ and testdata/.
func walk(dir string, fn func(rel string) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		return fn(filepath.ToSlash(rel))
	})
}

// link is one link of a Markdown text.
type link struct {
	line   int
	text   string // as written, for the message
	target string // the URL or path, with its #anchor
	bare   bool   // a URL in running text, which GitHub turns into a link
}

var (
	fenceRE   = regexp.MustCompile("^ {0,3}(```|~~~)")
	spanRE    = regexp.MustCompile("``[^`]*``|`[^`]*`")
	commentRE = regexp.MustCompile(`(?s)<!--.*?-->`)
	// [text](target "title") and ![alt](target), one level of brackets in
	// the text (a link around an image or code with brackets).
	inlineRE = regexp.MustCompile(`!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDefRE = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$`)
	autoRE   = regexp.MustCompile(`<((?:[A-Za-z][A-Za-z0-9+.-]*:|www\.)[^\s<>]*)>`)
	bareRE   = regexp.MustCompile(`\b(?:https?://|www\.)[^\s<>()\[\]]+`)
)

// links returns the links of md outside code: inline links and images,
// reference definitions, autolinks and bare URLs.
func links(md string) []link {
	var out []link
	md = commentRE.ReplaceAllStringFunc(md, func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n")) // keep line numbers
	})
	inFence := false
	for i, line := range strings.Split(md, "\n") {
		if fenceRE.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = spanRE.ReplaceAllString(line, "")
		n := i + 1
		if m := refDefRE.FindStringSubmatch(line); m != nil {
			out = append(out, link{line: n, text: strings.TrimSpace(line), target: m[1]})
			continue
		}
		for _, m := range inlineRE.FindAllStringSubmatch(line, -1) {
			out = append(out, link{line: n, text: m[0], target: m[2]})
		}
		line = inlineRE.ReplaceAllString(line, "")
		for _, m := range autoRE.FindAllStringSubmatch(line, -1) {
			out = append(out, link{line: n, text: m[0], target: m[1]})
		}
		line = autoRE.ReplaceAllString(line, "")
		for _, m := range bareRE.FindAllString(line, -1) {
			out = append(out, link{line: n, text: strings.TrimRight(m, ".,;:"), target: m, bare: true})
		}
	}
	return out
}

var (
	headingRE = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	htmlIDRE  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	tagRE     = regexp.MustCompile(`<[^>]+>`)
)

// anchors returns the anchors of md's headings as GitHub makes them, with
// -1, -2, … for repeated headings, and those of <a name|id="…"> tags.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if fenceRE.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlIDRE.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[1])
		a := s
		for i := 1; out[a]; i++ {
			a = fmt.Sprintf("%s-%d", s, i)
		}
		out[a] = true
	}
	return out
}

// slug is GitHub's anchor for a heading's text: the text as rendered
// (links reduced to their text, no tags or backticks), lower case, every
// character but letters, digits, '_', '-' and spaces dropped, and each
// space turned into '-'.
func slug(heading string) string {
	heading = inlineRE.ReplaceAllString(heading, "$1")
	heading = tagRE.ReplaceAllString(heading, "")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestREADMEKeysExist: the README's quick-start table names only keys that
// injector/ANNOTATIONS.md documents (which a test of the injector keeps
// equal to the keys the parser knows).
func TestREADMEKeysExist(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join(root, "injector", "ANNOTATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile("^\\| (`[a-z0-9<>-]+`) \\|")
	n, in := 0, false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "| annotation (under `secrets.tradepulse.io/`)"):
			in = true
		case !strings.HasPrefix(line, "|"):
			in = false
		case in:
			if m := key.FindStringSubmatch(line); m != nil {
				n++
				if !strings.Contains(string(ref), "| "+m[1]+" |") {
					t.Errorf("README.md's quick start names %s, which injector/ANNOTATIONS.md has no row for", m[1])
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("found %d keys in README.md's quick-start table; has its layout changed?", n)
	}
}
