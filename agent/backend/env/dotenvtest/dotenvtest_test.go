package dotenvtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/joho/godotenv"
)

func roundTrip(t *testing.T, value string) {
	t.Helper()
	q, err := Quote(value)
	if err != nil {
		return
	}
	got, err := godotenv.Unmarshal("K=" + q + "\nNEXT=x\n")
	if err != nil {
		t.Fatalf("Quote(%q) = %s does not parse: %v", value, q, err)
	}
	if diff := cmp.Diff(map[string]string{"K": value, "NEXT": "x"}, got); diff != "" {
		t.Fatalf("Quote(%q) = %s reads back differently (-want +got):\n%s", value, q, diff)
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for name, v := range map[string]string{
		"empty":            "",
		"plain":            "key-123",
		"spaces kept":      "  padded  ",
		"json":             `{"ca":"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n","cert":"C","key":"k"}`,
		"multi-line pem":   "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
		"single quote":     "it's",
		"quote and escape": `it's a \n and $HOME and "x" y`,
		"crlf":             "a\r\nb",
		"dollar":           "$HOME ${HOME} \\$",
		"hash":             "a #not a comment",
		"backslashes":      `a\\b\c`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Quote(v); err != nil {
				t.Fatalf("Quote(%q): %v", v, err)
			}
			roundTrip(t, v)
		})
	}
}

func TestQuoteRejects(t *testing.T) {
	for name, v := range map[string]string{
		"trailing backslash":            `abc\`,
		"single quote and ending quote": `it's "x"`,
		"invalid utf-8":                 "\xff",
	} {
		t.Run(name, func(t *testing.T) {
			if q, err := Quote(v); err == nil {
				t.Fatalf("Quote(%q) = %s, want an error", v, q)
			}
		})
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a'b", `{"a":"b\n"}`, "x\r\ny", `\$A`, "$A", `"a'`} {
		f.Add(s)
	}
	f.Fuzz(roundTrip)
}

func TestFilePutDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	f := NewFile(path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("NewFile wrote %s before any Put", path)
	}
	for k, v := range map[string]string{"B": "it's\n2", "A": "1", "C": "3"} {
		if err := f.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Delete("C"); err != nil {
		t.Fatal(err)
	}
	got, err := godotenv.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "it's\n2"}, got); diff != "" {
		t.Errorf("file content (-want +got):\n%s", diff)
	}
	if err := f.Put("BAD-KEY", "x"); err == nil {
		t.Error("Put accepted a key godotenv cannot parse")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only .env (temp files left behind?)", len(entries))
	}
}
