package envexec

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// values reads every variable from the files: the env files first, then
// the one-file variables, which win. A file that does not exist (an
// optional secret not yet provisioned, or one the backend revoked: the
// agent removes its file) leaves its variables unset and is listed in
// missing. Errors name the variable or file, never what it holds.
func (o *Options) values() (vals map[string]string, missing []string, err error) {
	vals = map[string]string{}
	for _, f := range o.EnvFiles {
		data, err := readBounded(filepath.Join(o.Dir, f))
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil, nil, fmt.Errorf("env file %s holds a NUL byte, which no environment can carry", f)
		}
		kv, err := godotenv.UnmarshalBytes(data)
		if err != nil {
			// The parser's message may quote the file; say where only.
			return nil, nil, fmt.Errorf("env file %s is not KEY=value lines", f)
		}
		for k, v := range kv {
			vals[k] = v
		}
	}
	for _, v := range o.Vars {
		data, err := readBounded(filepath.Join(o.Dir, v.File))
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, v.File)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil, nil, fmt.Errorf("variable %s: file %s holds a NUL byte, which no environment can carry", v.Name, v.File)
		}
		vals[v.Name] = string(data)
	}
	return vals, missing, nil
}

// readBounded reads a file of at most maxValueSize bytes. Its errors are
// the file system's (they name the path) or the bound's.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxValueSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxValueSize {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxValueSize)
	}
	return data, nil
}

// environ is base with vals set: a variable of base with the same name is
// replaced, so the secret wins over the container's own env.
func environ(base []string, vals map[string]string) []string {
	out := make([]string, 0, len(base)+len(vals))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ours := vals[name]; !ours {
			out = append(out, kv)
		}
	}
	for _, name := range sortedNames(vals) {
		out = append(out, name+"="+vals[name])
	}
	return out
}

// digest identifies a set of values, so that a change is noticed without
// keeping the old values.
func digest(vals map[string]string) [sha256.Size]byte {
	h := sha256.New()
	for _, name := range sortedNames(vals) {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(vals[name]))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// sortedNames is never nil, so that a log of no variables says [].
func sortedNames(vals map[string]string) []string {
	names := slices.AppendSeq(make([]string, 0, len(vals)), maps.Keys(vals))
	slices.Sort(names)
	return names
}
