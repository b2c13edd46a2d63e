package sink

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteLayout(t *testing.T) {
	w, _ := newTestWriter(t)
	changed := mustWrite(t, w,
		file("api-key", "k", 0o400),
		file("postgres-tls/ca.crt", "ca", 0o440),
		file("postgres-tls/tls.crt", "crt", 0o440),
		file("postgres-tls/tls.key", "key", 0o400),
		file("deep/a/b/c", "c", 0o400),
	)
	if !changed {
		t.Error("first write reported unchanged")
	}
	want := map[string]seen{
		"api-key":              {"k", 0o400},
		"postgres-tls/ca.crt":  {"ca", 0o440},
		"postgres-tls/tls.crt": {"crt", 0o440},
		"postgres-tls/tls.key": {"key", 0o400},
		"deep/a/b/c":           {"c", 0o400},
	}
	if diff := cmp.Diff(want, visible(t, w.Dir())); diff != "" {
		t.Errorf("visible files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"..<ts>", "..data", "api-key", "deep", "postgres-tls"}, entries(t, w.Dir())); diff != "" {
		t.Errorf("volume entries (-want +got):\n%s", diff)
	}
	if target := dataTarget(t, w.Dir()); !strings.HasPrefix(target, "..") || strings.Contains(target, "/") {
		t.Errorf("..data -> %q, want a sibling timestamped directory", target)
	}
	for _, top := range []string{"api-key", "deep", "postgres-tls"} {
		dest, err := os.Readlink(filepath.Join(w.Dir(), top))
		if err != nil || dest != "..data/"+top {
			t.Errorf("%s -> %q (%v), want ..data/%s", top, dest, err, top)
		}
	}
	for _, d := range []string{"postgres-tls", "deep", "deep/a", "deep/a/b"} {
		fi, err := os.Stat(filepath.Join(w.Dir(), d))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("directory %s: mode %v (%v), want 0755", d, fi.Mode().Perm(), err)
		}
	}
}

func TestWriteModesIgnoreUmask(t *testing.T) {
	for _, umask := range []int{0o077, 0o000, 0o777} {
		t.Run(os.FileMode(umask).String(), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)

			w, err := New(filepath.Join(tempDir(t), "a", "vol"), nil)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(w.Dir())
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("new volume directory mode %v (%v), want 0755", fi.Mode().Perm(), err)
			}
			modes := []os.FileMode{0o400, 0o440, 0o444, 0o600, 0o640, 0o644, 0o000}
			var files []File
			want := map[string]os.FileMode{}
			for _, m := range modes {
				p := "m/" + strings.TrimPrefix(m.String(), "-")
				files = append(files, file(p, "x", m))
				want[p] = m
			}
			files = append(files, file("top", "x", 0o440))
			want["top"] = 0o440
			mustWrite(t, w, files...)

			got := map[string]os.FileMode{}
			for p := range want {
				fi, err := os.Stat(filepath.Join(w.Dir(), p))
				if err != nil {
					t.Fatal(err)
				}
				got[p] = fi.Mode()
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("file modes (-want +got):\n%s", diff)
			}
			for _, d := range []string{"m", dataTarget(t, w.Dir())} {
				fi, err := os.Stat(filepath.Join(w.Dir(), d))
				if err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("directory %s: mode %v (%v), want 0755", d, fi.Mode().Perm(), err)
				}
			}
		})
	}
}

func TestWriteUnchanged(t *testing.T) {
	base := []File{file("api-key", "k", 0o400), file("postgres-tls/tls.crt", "crt", 0o440)}
	tweak := func(f func([]File) []File) []File {
		c := append([]File(nil), base...)
		return f(c)
	}
	tests := []struct {
		name    string
		next    []File
		changed bool
	}{
		{"same payload", base, false},
		{"same payload in another order", []File{base[1], base[0]}, false},
		{"owner given as the agent's own", tweak(func(fs []File) []File {
			fs[0].UID, fs[0].GID = os.Geteuid(), os.Getegid()
			return fs
		}), false},
		{"bytes differ", tweak(func(fs []File) []File { fs[0].Data = []byte("K"); return fs }), true},
		{"same length, other bytes", tweak(func(fs []File) []File { fs[1].Data = []byte("CRT"); return fs }), true},
		{"mode differs", tweak(func(fs []File) []File { fs[0].Mode = 0o440; return fs }), true},
		{"file added", tweak(func(fs []File) []File { return append(fs, file("api-secret", "s", 0o400)) }), true},
		{"file removed", base[:1], true},
		{"empty payload", nil, true},
		{"file moved", tweak(func(fs []File) []File { fs[1].Path = "postgres-tls/ca.crt"; return fs }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWriter(t)
			mustWrite(t, w, base...)
			before := dataTarget(t, w.Dir())
			listed := listing(t, w.Dir())

			if got := mustWrite(t, w, tc.next...); got != tc.changed {
				t.Fatalf("changed = %v, want %v", got, tc.changed)
			}
			if !tc.changed {
				if diff := cmp.Diff(listed, listing(t, w.Dir())); diff != "" {
					t.Errorf("unchanged write touched the volume (-before +after):\n%s", diff)
				}
				// A restarted agent reads the volume, not its memory.
				w2, err := New(w.Dir(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if mustWrite(t, w2, tc.next...) {
					t.Error("a new Writer on the same volume rewrote an unchanged payload")
				}
				if after := dataTarget(t, w.Dir()); after != before {
					t.Errorf("..data moved from %s to %s", before, after)
				}
				return
			}
			if after := dataTarget(t, w.Dir()); after == before {
				t.Errorf("..data still points at %s after a change", before)
			}
			if mustWrite(t, w, tc.next...) {
				t.Error("writing the new payload a second time reported a change")
			}
		})
	}
}

func TestWriteRepairsVisibleLinks(t *testing.T) {
	files := []File{file("api-key", "k", 0o400), file("postgres-tls/tls.crt", "crt", 0o440)}
	for _, name := range []string{"api-key", "postgres-tls"} {
		t.Run(name, func(t *testing.T) {
			w, _ := newTestWriter(t)
			mustWrite(t, w, files...)
			// A crash between the swap and the links leaves ..data right
			// and a visible name missing.
			if err := os.Remove(filepath.Join(w.Dir(), name)); err != nil {
				t.Fatal(err)
			}
			if !mustWrite(t, w, files...) {
				t.Error("missing link not reported as a change")
			}
			if _, err := os.Stat(filepath.Join(w.Dir(), name)); err != nil {
				t.Errorf("link not restored: %v", err)
			}
		})
	}
}

func TestWriteRemovesFiles(t *testing.T) {
	w, _ := newTestWriter(t)
	farApart(w)
	mustWrite(t, w,
		file("api-key", "k", 0o400),
		file("api-secret", "s", 0o400),
		file("postgres-tls/ca.crt", "ca", 0o440),
		file("postgres-tls/tls.key", "key", 0o400),
	)
	// Keep a handle open, as an app would: removal must not depend on it.
	fh, err := os.Open(filepath.Join(w.Dir(), "api-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()

	if !mustWrite(t, w, file("api-key", "k", 0o400), file("postgres-tls/ca.crt", "ca", 0o440)) {
		t.Fatal("removal reported unchanged")
	}
	want := map[string]seen{"api-key": {"k", 0o400}, "postgres-tls/ca.crt": {"ca", 0o440}}
	if diff := cmp.Diff(want, visible(t, w.Dir())); diff != "" {
		t.Errorf("visible files (-want +got):\n%s", diff)
	}
	for _, gone := range []string{"api-secret", "postgres-tls/tls.key"} {
		if _, err := os.Lstat(filepath.Join(w.Dir(), gone)); !os.IsNotExist(err) {
			t.Errorf("%s still present (%v)", gone, err)
		}
	}

	if !mustWrite(t, w) {
		t.Fatal("empty payload reported unchanged")
	}
	// The generation the empty payload replaced stays until the next swap.
	if diff := cmp.Diff([]string{"..<ts>", "..<ts>", "..data"}, entries(t, w.Dir())); diff != "" {
		t.Errorf("entries after the empty payload (-want +got):\n%s", diff)
	}
	if mustWrite(t, w) {
		t.Error("second empty payload reported a change")
	}
}

func TestWriteRejectsInvalidPayload(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		// naming is a path the error must name.
		naming string
	}{
		{"parent escape", []File{file("../x", "v", 0o400)}, "../x"},
		{"absolute", []File{file("/etc/passwd", "v", 0o400)}, "/etc/passwd"},
		{"escape in the middle", []File{file("a/../../b", "v", 0o400)}, "a/../../b"},
		{"the data link", []File{file("..data", "v", 0o400)}, "..data"},
		{"a timestamped name", []File{file("..2020", "v", 0o400)}, "..2020"},
		{"reserved element deeper", []File{file("a/..data", "v", 0o400)}, "a/..data"},
		{"dot element", []File{file("./a", "v", 0o400)}, "./a"},
		{"empty element", []File{file("a//b", "v", 0o400)}, "a//b"},
		{"trailing slash", []File{file("a/", "v", 0o400)}, "a/"},
		{"empty", []File{file("", "v", 0o400)}, "empty"},
		{"duplicate", []File{file("a", "v", 0o400), file("a", "w", 0o400)}, `"a"`},
		{"file and directory", []File{file("a", "v", 0o400), file("a/b", "w", 0o400)}, `"a"`},
		{"setuid bit", []File{{Path: "a", Mode: 0o400 | os.ModeSetuid, UID: -1, GID: -1}}, `"a"`},
		{"bad uid", []File{{Path: "a", Mode: 0o400, UID: -2, GID: -1}}, `"a"`},
		{"one bad among good", []File{file("ok", "v", 0o400), file("../x", "v", 0o400)}, "../x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWriter(t)
			mustWrite(t, w, file("api-key", "k", 0o400))
			parent := filepath.Dir(w.Dir())
			before := listing(t, parent)

			changed, err := w.Write(tc.files)
			if err == nil {
				t.Fatal("invalid payload accepted")
			}
			if changed {
				t.Error("changed = true for a rejected payload")
			}
			if !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not name %s", err, tc.naming)
			}
			if diff := cmp.Diff(before, listing(t, parent)); diff != "" {
				t.Errorf("a rejected payload touched the disk (-before +after):\n%s", diff)
			}
		})
	}
}

func TestWritePrunesOldVersions(t *testing.T) {
	w, _ := newTestWriter(t)
	farApart(w)
	for i := range 10 {
		mustWrite(t, w, file("api-key", strings.Repeat("k", i+1), 0o400), file("tls/ca.crt", "ca", 0o400))
	}
	// The current generation and the one it replaced; the eight before
	// are gone.
	want := []string{"..<ts>", "..<ts>", "..data", "api-key", "tls"}
	if diff := cmp.Diff(want, entries(t, w.Dir())); diff != "" {
		t.Errorf("entries after 10 writes (-want +got):\n%s", diff)
	}

	// What a crash mid-write leaves: a timestamped directory, temporary links.
	crash := func() {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(w.Dir(), "..2020_01_01_00_00_00.123", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{dataTmpLink, linkTmp} {
			if err := os.Symlink("..2020_01_01_00_00_00.123", filepath.Join(w.Dir(), l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	crash()
	mustWrite(t, w, file("api-key", "new", 0o400))
	if diff := cmp.Diff([]string{"..<ts>", "..<ts>", "..data", "api-key"}, entries(t, w.Dir())); diff != "" {
		t.Errorf("entries after a write over crash leftovers (-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(w.Dir(), "..2020_01_01_00_00_00.123")); !os.IsNotExist(err) {
		t.Errorf("the crashed write's directory survived a swap: %v", err)
	}

	crash()
	target := dataTarget(t, w.Dir())
	if mustWrite(t, w, file("api-key", "new", 0o400)) {
		t.Error("unchanged payload over crash leftovers reported a change")
	}
	if diff := cmp.Diff([]string{"..<ts>", "..<ts>", "..data", "api-key"}, entries(t, w.Dir())); diff != "" {
		t.Errorf("leftovers not pruned by an unchanged write (-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(w.Dir(), "..2020_01_01_00_00_00.123")); !os.IsNotExist(err) {
		t.Errorf("the crashed write's directory survived an unchanged write: %v", err)
	}
	if got := dataTarget(t, w.Dir()); got != target {
		t.Errorf("..data moved from %s to %s on an unchanged write", target, got)
	}
}

func TestWriteLeavesForeignEntries(t *testing.T) {
	w, _ := newTestWriter(t)
	farApart(w)
	if err := os.WriteFile(filepath.Join(w.Dir(), "app-owned"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/elsewhere", filepath.Join(w.Dir(), "app-link")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, file("api-key", "k", 0o400))
	mustWrite(t, w)
	if diff := cmp.Diff([]string{"..<ts>", "..<ts>", "..data", "app-link", "app-owned"}, entries(t, w.Dir())); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestWriteReplacesStrayFile(t *testing.T) {
	w, _ := newTestWriter(t)
	if err := os.WriteFile(filepath.Join(w.Dir(), "api-key"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, file("api-key", "k", 0o400))
	if diff := cmp.Diff(map[string]seen{"api-key": {"k", 0o400}}, visible(t, w.Dir())); diff != "" {
		t.Errorf("visible files (-want +got):\n%s", diff)
	}
}

func TestWriteDirectoryInTheWay(t *testing.T) {
	w, _ := newTestWriter(t)
	if err := os.MkdirAll(filepath.Join(w.Dir(), "api-key", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	changed, err := w.Write([]File{file("api-key", "k", 0o400), file("other", "o", 0o400)})
	if err == nil || !strings.Contains(err.Error(), "api-key") {
		t.Fatalf("err = %v, want one naming api-key", err)
	}
	if !changed {
		t.Error("changed = false although ..data was swapped")
	}
	if _, err := os.Stat(filepath.Join(w.Dir(), "api-key", "x")); err != nil {
		t.Errorf("a directory the writer did not make was removed: %v", err)
	}
	if diff := cmp.Diff(map[string]seen{"other": {"o", 0o400}}, visible(t, w.Dir())); diff != "" {
		t.Errorf("visible files (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New(f, nil); err == nil {
			t.Error("New accepted a regular file")
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := New("", nil); err == nil {
			t.Error("New accepted an empty directory name")
		}
	})
	t.Run("existing directory keeps its mode", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		w, err := New(dir+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if w.Dir() != dir {
			t.Errorf("Dir() = %q, want %q", w.Dir(), dir)
		}
		fi, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o750 {
			t.Errorf("mode changed to %v", fi.Mode().Perm())
		}
	})
}
