// Package render turns one fetched secret into the files it becomes: the
// bytes unchanged (raw), one file per JSON field (json), a KEY=value file
// (env) or a Go template's output (template).
//
// Errors name the secret, the format and the field, key, line or byte
// offset at fault, never bytes of the value: the standard library's JSON
// and template errors can quote their input, so none of them is passed on.
package render

import (
	"fmt"
	"os"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// Render turns one fetched secret into the files it becomes, per its
// config. version is the backend's version of data, offered to templates.
func Render(s config.Secret, data []byte, version string) ([]sink.File, error) {
	format := s.Format
	if format == "" {
		format = config.FormatRaw
	}
	var (
		files []sink.File
		err   error
	)
	switch format {
	case config.FormatRaw:
		files = []sink.File{{Path: s.Name, Data: append([]byte(nil), data...)}}
	case config.FormatJSON:
		files, err = renderJSON(s, data)
	case config.FormatEnv:
		var out []byte
		out, err = renderEnv(s, data)
		files = []sink.File{{Path: s.Name, Data: out}}
	case config.FormatTemplate:
		var out []byte
		out, err = renderTemplate(s, data, version)
		files = []sink.File{{Path: s.Name, Data: out}}
	default:
		return nil, fmt.Errorf("secret %q: unknown format %q", s.Name, format)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q (format %s): %w", s.Name, format, err)
	}
	mode := os.FileMode(s.Mode) & os.ModePerm
	if s.Mode == 0 {
		mode = os.FileMode(config.DefaultFileMode)
	}
	uid, gid := -1, -1
	if s.Owner != nil {
		uid, gid = s.Owner.UID, s.Owner.GID
	}
	for i := range files {
		if err := config.ValidatePath(files[i].Path); err != nil {
			return nil, fmt.Errorf("secret %q (format %s): %w", s.Name, format, err)
		}
		files[i].Mode, files[i].UID, files[i].GID = mode, uid, gid
		if files[i].Data == nil {
			files[i].Data = []byte{} // an empty file, said the same way by every format
		}
	}
	return files, nil
}
