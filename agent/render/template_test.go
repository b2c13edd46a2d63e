package render

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/sprig/v3"

	"github.com/tradepulse/secret-injector/agent/config"
)

func tmpl(body string) config.Secret {
	return config.Secret{Name: "conf", Format: config.FormatTemplate, Template: body}
}

func renderString(t *testing.T, body, data string) (string, error) {
	t.Helper()
	files, err := Render(tmpl(body), []byte(data), "7")
	if err != nil {
		return "", err
	}
	return string(files[0].Data), nil
}

// TestTemplateFunctionLibrary: sprig's hermetic functions work in a
// secret's template, beside the project's own.
func TestTemplateFunctionLibrary(t *testing.T) {
	const data = `{"user":"svc","password":"p w","port":5432,"hosts":["a","b"],"db":{"name":"trades"},"api-key":"k1"}`
	tests := []struct{ body, want string }{
		{`{{ .Data.user | quote }}`, `"svc"`},
		{`{{ .Data.missing_or_not | default "x" | squote }}`, ``}, // replaced below: missing keys fail
		{`{{ get .Data "nope" | default "fallback" }}`, `fallback`},
		{`{{ dig "db" "name" "none" .Data }}`, `trades`},
		{`{{ dig "db" "host" "localhost" .Data }}`, `localhost`},
		{`{{ hasKey .Data "user" }} {{ hasKey .Data "nope" }}`, `true false`},
		{`{{ index .Data "api-key" }}`, `k1`},
		{`{{ join "," .Data.hosts }}`, `a,b`},
		{`{{ range $i, $h := .Data.hosts }}{{ $i }}={{ $h }};{{ end }}`, `0=a;1=b;`},
		{`{{ range .Data.hosts }}{{ . | upper }}{{ end }}`, `AB`},
		{`{{ range $k, $v := .Data.db }}{{ $k }}:{{ $v }}{{ end }}`, `name:trades`},
		{`{{ range $k := keys .Data | sortAlpha }}{{ $k }} {{ end }}`, `api-key db hosts password port user `},
		{`{{ range 3 }}{{ . }}{{ end }}`, `012`},
		{`{{ range $i := until 3 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}`, `02`},
		{`{{ range $i := until 5 }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $i }}{{ end }}`, `01`},
		{`{{ range .Data.nothing_here | default list }}x{{ else }}empty{{ end }}`, ``}, // replaced below
		{`{{ range $x := list }}x{{ else }}empty{{ end }}`, `empty`},
		{`{{ printf "postgres://%s:%s@db:%v/%s" .Data.user (.Data.password | urlquery) .Data.port .Data.db.name }}`, `postgres://svc:p+w@db:5432/trades`},
		{`{{ .Data.password | replace " " "_" | sha256sum | trunc 8 }}`, `6634b2cb`},
		{`{{ dict "u" .Data.user "p" .Data.port | toJson }}`, `{"p":5432,"u":"svc"}`},
		{`{{ (.Raw | fromJson).user }}`, `svc`},
		{`{{ .Data.user | b32enc }}`, `ON3GG===`},
		{"{{ .Data.hosts | toStrings | join \"\\n\" | indent 2 }}", "  a\n  b"},
		{"a:{{ .Data.user | nindent 2 }}", "a:\n  svc"},
		{`{{ repeat 3 "ab" }} {{ seq 3 }} {{ untilStep 0 10 4 | join "," }}`, `ababab 1 2 3 0,4,8`},
		{`{{ semverCompare ">=1.2.0" "1.3.0" }} {{ regexReplaceAll "[0-9]" "a1b2" "#" }}`, `true a#b#`},
		{`{{ .Version }} {{ .Data.port | add1 }}`, `7 5433`},
		{`{{ define "dsn" }}{{ .user }}@{{ .db.name }}{{ end }}{{ template "dsn" .Data }}`, `svc@trades`},
		{`{{ block "x" . }}{{ .Data.user }}{{ end }}`, `svc`},
		{`{{ template "conf-row" .Data }}{{ define "conf-row" }}{{ range $k, $v := .db }}{{ $k }}{{ end }}{{ end }}`, `name`},
	}
	tests[1] = struct{ body, want string }{`{{ .Data.user | default "x" | squote }}`, `'svc'`}
	tests[15] = struct{ body, want string }{`{{ range .Data.hosts | rest | rest }}x{{ else }}empty{{ end }}`, `empty`}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			got, err := renderString(t, tc.body, data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTemplateFunctionsAreHermetic: no function reads files, the
// environment or the network, reads the clock or draws randomness; a
// template calling one does not parse, so the injector denies it.
func TestTemplateFunctionsAreHermetic(t *testing.T) {
	fm := TemplateFuncs()
	for _, name := range []string{
		"env", "expandenv", "getHostByName", // environment, network
		"now", "date", "dateInZone", "htmlDate", "ago", "durationRound", // clock
		"randAlpha", "randAlphaNum", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle", // random
		"bcrypt", "htpasswd", "encryptAES", "genPrivateKey", "genCA", "genSelfSignedCert", "genSignedCert", "derivePassword",
	} {
		if _, ok := fm[name]; ok {
			t.Errorf("templates get %s", name)
		}
		_, err := renderString(t, `{{ `+name+` }}`, `{}`)
		if err == nil || !strings.Contains(err.Error(), `function "`+name+`" not defined`) {
			t.Errorf("a template calling %s: %v, want it not to parse", name, err)
		}
	}
	// Everything else of sprig's hermetic set is there.
	for name := range sprig.HermeticTxtFuncMap() {
		if _, ok := fm[name]; !ok && !slices.Contains(ExcludedFuncs(), name) {
			t.Errorf("sprig's %s is neither offered nor excluded", name)
		}
	}
	// Same input, same output, twice: nothing left reads the clock.
	body := `{{ .Data | toJson | sha1sum }} {{ .Data.t | toDate "2006-01-02" | unixEpoch }}`
	a, err := renderString(t, body, `{"t":"2024-05-01"}`)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := renderString(t, body, `{"t":"2024-05-01"}`); a != b || !strings.HasSuffix(a, " 1714521600") {
		t.Errorf("renders differ or are wrong: %q, %q", a, b)
	}
}

// TestIndexIsStrict: index fails on a missing key, as .Data.key does,
// instead of writing "<no value>" into the file; get and dig are the
// functions for optional fields.
func TestIndexIsStrict(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{{ index .Data "api-secret" }}`, `executing the template failed at line 1, column 3, in {{index .Data "api-secret"}}: error calling index: the map has no such key`},
		{`{{ index .Data.l 3 }}`, `error calling index: index out of range`},
		{`{{ index .Data.l "x" }}`, `error calling index: a list or string is indexed by an integer`},
		{`{{ index .Data "m" "x" "y" }}`, `error calling index: the map has no such key`},
		{`{{ index .Data.n "x" }}`, `executing the template failed at line 1, column 3, in {{index .Data.n "x"}}`},
	} {
		got, err := renderString(t, tc.body, `{"api-key":"`+sentinel+`","l":[1],"m":{"x":{}},"n":null}`)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %q, %v; want an error saying %q", tc.body, got, err, tc.want)
		}
		if err != nil && leaks(err.Error()) != "" {
			t.Errorf("%s: error leaks the value: %v", tc.body, err)
		}
	}
	got, err := renderString(t, `{{ index .Data "m" "x" | toJson }} {{ index .Data.l 0 }} {{ index .Raw 0 }} {{ index .Data.n }}`, `{"l":[1],"m":{"x":{}},"n":7}`)
	if err != nil || got != `{} 1 123 7` {
		t.Errorf("index = %q, %v", got, err)
	}
}

// TestTemplateBounds: a template that writes, builds or runs too much is
// stopped with an error naming the secret and the bound, never a value,
// and soon.
func TestTemplateBounds(t *testing.T) {
	defer func(d time.Duration) { templateTimeout = d }(templateTimeout)
	templateTimeout = 200 * time.Millisecond
	tests := []struct {
		name, body string
		want       error
	}{
		{"output", `{{ .Raw }}{{ range 100000 }}{{ repeat 4000 "x" }}{{ end }}`, ErrTemplateTooLarge},
		{"one big write", `{{ repeat 1048577 "x" }}`, ErrTemplateTooLarge},
		{"repeat of the value", `{{ repeat 100000 .Raw }}`, ErrTemplateTooLarge},
		{"doubling a string", `{{ $s := .Raw }}{{ range 40 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}`, ErrTemplateTooLarge},
		{"doubling with printf", `{{ $s := .Raw }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}`, ErrTemplateTooLarge},
		{"doubling a list", `{{ $l := until 60000 }}{{ range 40 }}{{ $l = concat $l $l }}{{ end }}`, ErrTemplateTooLarge},
		{"until", `{{ until 1000000000 }}`, ErrTemplateTooLarge},
		{"untilStep", `{{ untilStep 0 9223372036854775807 1 }}`, ErrTemplateTooLarge},
		{"seq", `{{ seq -9223372036854775807 }}`, ErrTemplateTooLarge},
		{"indent", `{{ indent 2000000 "x" }}`, ErrTemplateTooLarge},
		{"an endless range", `{{ range 1000000000000 }}{{ end }}`, ErrTemplateTimeout},
		{"nested ranges", `{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}`, ErrTemplateTimeout},
		{"nested ranges over lists", `{{ $l := until 100000 }}{{ range $l }}{{ range $l }}{{ end }}{{ end }}`, ErrTemplateTimeout},
		{"recursion", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, ErrTemplateDepth},
		{"fan-out recursion", `{{ define "r" }}{{ if lt (len .) 40 }}{{ template "r" (append . 1) }}{{ template "r" (append . 1) }}{{ end }}{{ end }}{{ template "r" list }}`, ErrTemplateTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Render(tmpl(tc.body), []byte(sentinel), "1")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("stopped after %s", took)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `secret "conf" (format template): executing the template failed`) || !strings.Contains(msg, tc.want.Error()) {
				t.Errorf("error does not name the secret and the bound: %s", msg)
			}
			if w := leaks(msg); w != "" {
				t.Errorf("error carries %q of the value: %s", w, msg)
			}
		})
	}
}

// TestTemplateBoundsLeaveRoom: right under the bounds a template renders.
func TestTemplateBoundsLeaveRoom(t *testing.T) {
	out, err := renderString(t, `{{ repeat 1048576 "x" | len }} {{ until 100000 | len }} {{ range $i := until 20000 }}{{ end }}`+
		`{{ define "d" }}{{ if gt . 1 }}{{ template "d" (sub . 1) }}{{ end }}{{ end }}{{ template "d" 200 }}ok`, `{}`)
	if err != nil || out != "1048576 100000 ok" {
		t.Errorf("= %q, %v", out, err)
	}
	files, err := Render(tmpl(`{{ .Raw }}`), []byte(strings.Repeat("x", MaxTemplateOutput)), "1")
	if err != nil || len(files[0].Data) != MaxTemplateOutput {
		t.Errorf("a MaxTemplateOutput render: %v", err)
	}
}
