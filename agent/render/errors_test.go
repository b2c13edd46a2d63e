package render

import (
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/config"
)

// sentinel stands for a secret value in every error case below.
const sentinel = "S3NT1NEL-c0ffee"

// leaks reports any 4-byte window of the sentinel found in s: the standard
// library's messages quote single characters and short snippets too.
func leaks(s string) string {
	for i := 0; i+4 <= len(sentinel); i++ {
		if w := sentinel[i : i+4]; strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

func TestRenderErrorsNeverCarryTheValue(t *testing.T) {
	jsonS := func(fields map[string]string) config.Secret {
		return config.Secret{Name: "postgres-tls", Format: config.FormatJSON, Fields: fields}
	}
	envS := func(fields map[string]string) config.Secret {
		return config.Secret{Name: "mlflow.env", Format: config.FormatEnv, Fields: fields}
	}
	tmplS := func(tmpl string) config.Secret {
		return config.Secret{Name: "conf", Format: config.FormatTemplate, Template: tmpl}
	}
	tests := []struct {
		name   string
		secret config.Secret
		data   string
		// want are fragments the error must hold: what failed and where.
		want []string
	}{
		{"json: truncated", jsonS(nil), `{"key": "` + sentinel, []string{`"postgres-tls"`, "format json", "offset 24"}},
		{"json: bare word", jsonS(nil), `{"key": ` + sentinel + `}`, []string{"format json", "offset 9"}},
		{"json: trailing data", jsonS(nil), `{"key": "v"} ` + sentinel, []string{"format json", "offset"}},
		{"json: not JSON at all", jsonS(nil), sentinel, []string{"format json", "not valid JSON"}},
		{"json: array", jsonS(nil), `["` + sentinel + `"]`, []string{"JSON array, not an object"}},
		{"json: string", jsonS(nil), `"` + sentinel + `"`, []string{"JSON string, not an object"}},
		{"json: number", jsonS(nil), `12345`, []string{"JSON number, not an object"}},
		{"json: null", jsonS(nil), `null`, []string{"JSON null"}},
		{"json: empty", jsonS(nil), ``, []string{"format json", "empty"}},
		{"json: empty object", jsonS(nil), `{}`, []string{"no fields"}},
		{"json: missing field", jsonS(map[string]string{"ca": "ca.crt", "key": "tls.key"}), `{"key":"` + sentinel + `"}`, []string{`field "ca" is missing`}},
		{"json: field name escapes", jsonS(nil), `{"../x":"` + sentinel + `"}`, []string{`field "../x"`}},
		{"json: field name reserved", jsonS(nil), `{"..data":"` + sentinel + `"}`, []string{`field "..data"`}},
		{"json: field name with a space", jsonS(nil), `{"a b":"` + sentinel + `"}`, []string{`field "a b"`}},
		{"json: two fields on one file", jsonS(map[string]string{"a": "x", "b": "x"}), `{"a":"` + sentinel + `","b":"1"}`, []string{`"a" and "b" both become "x"`}},

		{"env: truncated JSON", envS(nil), `{"A": "` + sentinel, []string{`"mlflow.env"`, "format env", "offset"}},
		{"env: JSON array", envS(nil), `["` + sentinel + `"]`, []string{"JSON array"}},
		{"env: bad key", envS(nil), `{"1BAD":"` + sentinel + `"}`, []string{`key "1BAD"`}},
		{"env: bad renamed key", envS(map[string]string{"a": "bad-name"}), `{"a":"` + sentinel + `"}`, []string{`key "bad-name" (from field "a")`}},
		{"env: missing field", envS(map[string]string{"password": "P"}), `{"user":"` + sentinel + `"}`, []string{`field "password" is missing`}},
		{"env: NUL in value", envS(nil), `{"A":"` + sentinel + `\u0000"}`, []string{`key "A"`, "NUL"}},
		{"env: a bare token", envS(nil), sentinel, []string{"line 1 is not a KEY=value line"}},
		{"env: base64 with padding", envS(nil), "9" + sentinel + "==", []string{"line 1 does not start with a valid"}},
		{"env: yaml style", envS(nil), "A=1\n" + sentinel + ": x", []string{"line 2"}},
		{"env: unterminated quote", envS(nil), "A=1\nB='" + sentinel + "\n", []string{"line 2 opens a quoted value"}},
		{"env: text after the quote", envS(nil), `A="x"` + sentinel, []string{"line 1 has text after"}},
		{"env: text NUL byte", envS(nil), "A=1\nB=" + sentinel + "\x00", []string{"line 2 holds a NUL byte"}},
		{"env: text renamed missing", envS(map[string]string{"B": "C"}), "A=" + sentinel, []string{`field "B" is missing from the value`}},

		{"template: range over the value", tmplS(`{{range .Raw}}x{{end}}`), sentinel, []string{`"conf"`, "format template", "line 1, column 8", "{{.Raw}}"}},
		{"template: missing key", tmplS(`user={{.Data.user}}`), `{"password":"` + sentinel + `"}`, []string{`no key "user"`, "line 1"}},
		{"template: .Data of a non-object", tmplS(`{{.Data.password}}`), sentinel, []string{`no key "password"`}},
		{"template: field of a string", tmplS(`{{.Data.p.q}}`), `{"p":"` + sentinel + `"}`, []string{"format template", "{{.Data.p.q}}"}},
		{"template: b64dec of the value", tmplS(`{{.Raw | b64dec}}`), sentinel + "!", []string{"format template"}},
		{"template: index out of range", tmplS(`{{index .Data.l 5}}`), `{"l":["` + sentinel + `"]}`, []string{"format template"}},
		{"template: call the value", tmplS(`{{call .Raw}}`), sentinel, []string{"format template"}},
		{"template: compare with the value", tmplS(`{{if lt .Raw 3}}x{{end}}`), sentinel, []string{"format template"}},
		{"template: undefined template", tmplS(`{{template "x" .Raw}}`), sentinel, []string{"format template"}},
		{"template: does not parse", tmplS(`{{.Raw`), sentinel, []string{"does not parse"}},

		{"unknown format", config.Secret{Name: "x", Format: "yaml"}, sentinel, []string{`unknown format "yaml"`}},
		{"name is not a path", config.Secret{Name: "../x"}, sentinel, []string{`"../x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Render(tc.secret, []byte(tc.data), "v1")
			if err == nil {
				t.Fatalf("no error; files %v", files)
			}
			if files != nil {
				t.Errorf("files returned with the error")
			}
			msg := err.Error()
			if w := leaks(msg); w != "" {
				t.Errorf("error carries %q of the value: %s", w, msg)
			}
			for _, frag := range tc.want {
				if !strings.Contains(msg, frag) {
					t.Errorf("error %q lacks %q", msg, frag)
				}
			}
		})
	}
}
