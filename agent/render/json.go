package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// renderJSON writes one file per field under a directory named after the
// secret, e.g. postgres-tls/tls.crt.
func renderJSON(s config.Secret, data []byte) ([]sink.File, error) {
	picked, err := pickJSON(s.Fields, data)
	if err != nil {
		return nil, err
	}
	if len(picked) == 0 {
		return nil, errors.New("the JSON object has no fields: nothing to write")
	}
	files := make([]sink.File, 0, len(picked))
	for _, f := range picked {
		p := s.Name + "/" + f.out
		if err := config.ValidatePath(p); err != nil {
			return nil, fmt.Errorf("field %q: file name is not usable: %w", f.field, err)
		}
		files = append(files, sink.File{Path: p, Data: []byte(f.value)})
	}
	return files, nil
}

// picked is one field chosen for output.
type picked struct {
	field string // name in the JSON object
	out   string // file or variable name it becomes
	value string
}

// pickJSON decodes data as a JSON object and picks its fields as pick does.
func pickJSON(fields map[string]string, data []byte) ([]picked, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	return pick(fields, texts(obj))
}

// pick chooses the fields to write, renamed per fields, sorted by their
// output names. With fields set only those are written, and each must be
// present. Two fields may not land on one name.
func pick(fields map[string]string, obj map[string]string) ([]picked, error) {
	var out []picked
	add := func(field, to string) {
		if to == "" {
			to = field
		}
		out = append(out, picked{field: field, out: to, value: obj[field]})
	}
	if len(fields) > 0 {
		for field, to := range fields {
			if _, ok := obj[field]; !ok {
				return nil, fmt.Errorf("field %q is missing from the value", field)
			}
			add(field, to)
		}
	} else {
		for field := range obj {
			add(field, "")
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].out != out[j].out {
			return out[i].out < out[j].out
		}
		return out[i].field < out[j].field
	})
	for i := 1; i < len(out); i++ {
		if out[i].out == out[i-1].out {
			return nil, fmt.Errorf("fields %q and %q both become %q", out[i-1].field, out[i].field, out[i].out)
		}
	}
	return out, nil
}

// decodeObject parses data as a JSON object. Its errors give the byte
// offset or the kind of value found, never the input's bytes.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the value is empty, not a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("the value is not valid JSON (syntax error at byte offset %d)", se.Offset)
		}
		if kind := jsonKind(data); kind != "" {
			return nil, fmt.Errorf("the value is a JSON %s, not an object", kind)
		}
		return nil, errors.New("the value is not a JSON object")
	}
	if obj == nil {
		return nil, errors.New("the value is a JSON null, not an object")
	}
	return obj, nil
}

// jsonKind names the kind of a valid JSON value from its first byte.
func jsonKind(data []byte) string {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return ""
	}
	switch c := t[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "number"
	}
	return ""
}

// texts converts every field's value with text.
func texts(obj map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		out[k] = text(v)
	}
	return out
}

// text is a field's value as written to a file or variable: strings as
// themselves, numbers and booleans as their JSON text, objects and arrays
// as compact JSON, null as nothing.
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.String()
		}
	case 'n':
		return ""
	}
	return string(raw)
}
