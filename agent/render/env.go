package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/joho/godotenv"

	"github.com/tradepulse/secret-injector/agent/config"
)

// renderEnv writes KEY=value lines sorted by key. data is a JSON object, or
// text that already is KEY=value lines (a .env-sourced secret). Such text is
// checked, parsed as dotenv parsers read it, and written out again in the
// same quoting as a JSON object's variables: passing it through as is
// would let an unquoted "KEY=a;b" or "KEY=$(cmd)" run commands in a shell
// that sources the file, and would read differently there than in a
// dotenv parser.
func renderEnv(s config.Secret, data []byte) ([]byte, error) {
	if json.Valid(data) || startsLikeJSON(data) {
		picked, err := pickJSON(s.Fields, data)
		if err != nil {
			return nil, err
		}
		return envLines(picked, true)
	}
	vars, err := parseDotenv(data)
	if err != nil {
		return nil, err
	}
	picked, err := pick(s.Fields, vars)
	if err != nil {
		return nil, err
	}
	// Names read from text that was meant as KEY=value are names, but in
	// text that was not they may be part of the secret: only names the
	// config gave are quoted in errors.
	return envLines(picked, len(s.Fields) > 0)
}

// envLines renders picked variables, already sorted by name. named says
// whether errors may quote the names.
func envLines(picked []picked, named bool) ([]byte, error) {
	var b bytes.Buffer
	for _, p := range picked {
		if !named && (!validEnvName(p.out) || strings.IndexByte(p.value, 0) >= 0) {
			return nil, errors.New("a variable has an invalid name or a value holding a NUL byte")
		}
		if !validEnvName(p.out) {
			if p.out == p.field {
				return nil, fmt.Errorf("key %q is not a valid environment variable name", p.out)
			}
			return nil, fmt.Errorf("key %q (from field %q) is not a valid environment variable name", p.out, p.field)
		}
		if strings.IndexByte(p.value, 0) >= 0 {
			return nil, fmt.Errorf("key %q: the value holds a NUL byte, which no environment can carry", p.out)
		}
		b.WriteString(p.out)
		b.WriteByte('=')
		b.WriteString(quote(p.value))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// quote writes a value so that a POSIX shell sourcing the file and
// docker/compose-style dotenv parsers read back exactly the value:
//
//   - bare when every byte is in [A-Za-z0-9_./:@+-] (or it is empty);
//   - else in single quotes, where a shell expands nothing;
//   - else, when it holds a single quote, in double quotes with \ " $ and `
//     escaped.
//
// The shell's own idiom for a single quote is exact for shells, but dotenv
// parsers end the value at its second quote; the double-quoted form is
// exact for both:
//
//	KEY='it'\''s'
//
// Dotenv parsers cannot read back exactly a value ending in a backslash,
// holding a carriage return before a newline, or holding a single quote
// and ending in a double quote; shells always can.
func quote(v string) string {
	switch {
	case v == "" || isBare(v):
		return v
	case !strings.Contains(v, "'"):
		return "'" + v + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isBare(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./:@+-", c) >= 0) {
			return false
		}
	}
	return true
}

// validEnvName matches [A-Za-z_][A-Za-z0-9_]*, what a shell accepts.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// startsLikeJSON catches malformed JSON objects and arrays, so that they
// are reported as JSON with an offset rather than as bad KEY=value text.
func startsLikeJSON(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// parseDotenv checks that data is KEY=value lines, as shells and dotenv
// parsers read them, and returns the variables. Its errors give a line
// number, never a name or a value: in text that is not meant as KEY=value
// lines, what looks like a name may be part of the secret.
func parseDotenv(data []byte) (map[string]string, error) {
	if err := scanDotenv(data); err != nil {
		return nil, err
	}
	vars, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		return nil, errors.New("the value is neither a JSON object nor KEY=value lines a dotenv parser accepts")
	}
	return vars, nil
}

// scanDotenv walks the statements of a KEY=value file: blank lines,
// # comments, and [export ]NAME=value where value is bare to the end of
// the line or quoted, possibly over several lines.
func scanDotenv(data []byte) error {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i, line := range lines {
		if strings.IndexByte(line, 0) >= 0 {
			return fmt.Errorf("line %d holds a NUL byte, which no environment can carry", i+1)
		}
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimLeft(rest, " \t")
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("line %d is not a KEY=value line", i+1)
		}
		if !validEnvName(strings.TrimRight(name, " \t")) {
			return fmt.Errorf("line %d does not start with a valid environment variable name", i+1)
		}
		value = strings.TrimLeft(value, " \t")
		if value == "" || value[0] != '\'' && value[0] != '"' {
			continue
		}
		start := i
		q := value[0]
		rest := value[1:]
		for {
			if end := closingQuote(rest, q); end >= 0 {
				tail := strings.TrimSpace(rest[end+1:])
				if tail != "" && tail[0] != '#' {
					return fmt.Errorf("line %d has text after its closing quote", i+1)
				}
				break
			}
			i++
			if i == len(lines) {
				return fmt.Errorf("line %d opens a quoted value that is never closed", start+1)
			}
			rest = lines[i]
		}
	}
	return nil
}

// closingQuote finds the quote q that ends a value, skipping \q inside
// double quotes. It returns -1 when s does not hold it.
func closingQuote(s string, q byte) int {
	for j := 0; j < len(s); j++ {
		switch {
		case q == '"' && s[j] == '\\':
			j++
		case s[j] == q:
			return j
		}
	}
	return -1
}
