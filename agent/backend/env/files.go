package env

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/joho/godotenv"
)

// maxFileSize bounds what is read from one file, so that a mistaken path
// (a device, a log) cannot exhaust the agent's memory.
const maxFileSize = 4 << 20

// maxLocateLines bounds the search for the line of a parse error.
const maxLocateLines = 2000

// load reads every existing file in order, later values overriding earlier
// ones. It returns the merged variables and the names of the files read.
// Errors name the file and line, never a value.
func (b *Backend) load() (map[string]string, []string, error) {
	vars := map[string]string{}
	var read, missing []string
	for _, f := range b.files {
		data, err := readFile(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f.name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("env file %s: %w", f.name, err)
		}
		m, err := godotenv.UnmarshalBytes(data)
		if err != nil {
			// godotenv quotes the offending text, which may be a value:
			// report only where the problem is.
			return nil, nil, parseError(f.name, data)
		}
		for k, v := range m {
			vars[k] = v
		}
		read = append(read, f.name)
	}
	if len(read) == 0 {
		return nil, nil, b.noFileError(missing)
	}
	if len(missing) > 0 {
		b.log.Debug("env files missing, skipped", "files", missing)
	}
	return vars, read, nil
}

// readFile reads at most maxFileSize bytes of path. Its errors carry the
// cause (not found, permission denied) but not the absolute path, which the
// caller replaces with the name the operator configured.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB; is this the right file?", maxFileSize>>20)
	}
	return data, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// noFileError explains that none of the files exists and what to do about
// it: the runbook's first local step is copying the example file.
func (b *Backend) noFileError(missing []string) error {
	first := b.files[0]
	hint := fmt.Sprintf("create %s (copy .env.example to .env if the project has one)", first.name)
	for _, example := range []string{first.path + ".example", filepath.Join(filepath.Dir(first.path), ".env.example")} {
		if _, err := os.Stat(example); err == nil {
			hint = fmt.Sprintf("copy %s to %s", filepath.Join(filepath.Dir(first.name), filepath.Base(example)), first.name)
			break
		}
	}
	what := first.name + " does not exist"
	if len(missing) > 1 {
		what = "none of " + strings.Join(missing, ", ") + " exists"
	}
	return fmt.Errorf("no env file found: %s; %s, or set backend.env.files", what, hint)
}

// parseError finds the line where the statement godotenv rejected starts,
// using godotenv itself as the judge: the longest prefix of whole lines
// that parses ends where that statement begins (a prefix that cuts a
// quoted value in two never parses).
func parseError(name string, data []byte) error {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxLocateLines {
		// The search is quadratic; a file this long is rarely an env file.
		return fmt.Errorf("env file %s: cannot parse (%d lines, too many to locate the error); is this the right file?", name, len(lines))
	}
	good := 0
	for n := len(lines) - 1; n > 0; n-- {
		if _, err := godotenv.UnmarshalBytes(bytes.Join(lines[:n], nil)); err == nil {
			good = n
			break
		}
	}
	at := good
	for at < len(lines)-1 && isBlankOrComment(lines[at]) {
		at++
	}
	return fmt.Errorf("env file %s: line %d: %s", name, at+1, parseHint(lines[at]))
}

func isBlankOrComment(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#'
}

// parseHint says what is wrong with a statement's first line without
// repeating any of it.
func parseHint(line []byte) string {
	s := strings.TrimSpace(string(line))
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "expected NAME=value"
	}
	for _, r := range s[:i] {
		if !(r == '_' || r == '.' || r == ' ' || r == '\t' || unicode.IsLetter(r) || unicode.IsNumber(r)) {
			return "the variable name may hold only A-Z, a-z, 0-9, '_' and '.'"
		}
	}
	return "a quoted value is not closed"
}
