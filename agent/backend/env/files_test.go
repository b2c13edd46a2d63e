package env

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

var lineRE = regexp.MustCompile(`: line (\d+): `)

// FuzzParseError checks, for any file godotenv rejects, that the error
// points at a line of the file and repeats none of its text.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		"A='x\n", "A=1\nB-C=2\n", "A='a\nb'\nC\n", "export A=\"x\\\"\n", "\r\n\r\nA=\"\r\nB", "#c\n\n  X='\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if _, err := godotenv.Unmarshal(data); err == nil {
			return
		}
		err := parseError(".env", []byte(data))
		m := lineRE.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("error %q names no line", err)
		}
		n, _ := strconv.Atoi(m[1])
		lines := bytes.Count([]byte(strings.ReplaceAll(data, "\r\n", "\n")), []byte("\n")) + 1
		if n < 1 || n > lines {
			t.Fatalf("error %q points at line %d of %d", err, n, lines)
		}
		msg := strings.TrimPrefix(err.Error(), m[0])
		for _, l := range strings.Split(data, "\n") {
			if l = strings.TrimSpace(l); len(l) >= 8 && strings.Contains(msg, l) {
				t.Fatalf("error %q repeats the file's text %q", err, l)
			}
		}
	})
}

func TestParseErrorLongFile(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("A='never closed\n")
	for i := range maxLocateLines + 10 {
		fmt.Fprintf(&sb, "K%d=v\n", i)
	}
	err := parseError("big.env", []byte(sb.String()))
	if !strings.Contains(err.Error(), "too many to locate") {
		t.Errorf("error for a long file: %v", err)
	}
}
