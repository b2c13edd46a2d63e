package render

import (
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/config"
)

var fuzzSecrets = []config.Secret{
	{Name: "raw"},
	{Name: "split", Format: config.FormatJSON},
	{Name: "tls", Format: config.FormatJSON, Fields: map[string]string{"ca": "ca.crt", "key": "tls.key"}},
	{Name: "app.env", Format: config.FormatEnv},
	{Name: "wandb.env", Format: config.FormatEnv, Fields: map[string]string{"api_key": "WANDB_API_KEY"}},
	{Name: "conf", Format: config.FormatTemplate, Template: `{{.Data.user}}:{{.Raw | b64enc}}{{range $k, $v := .Data}}{{$k}}={{$v}}{{end}}`},
	{Name: "loop", Format: config.FormatTemplate, Template: `{{range .Raw}}{{end}}{{if .Data.x}}{{.Data.x.y}}{{end}}`},
	{Name: "sprig", Format: config.FormatTemplate, Template: `{{ dig "x" "y" "d" .Data }}{{ .Raw | trunc 10 | repeat 3 }}` +
		`{{ range $i, $v := .Data.x }}{{ index $.Data.x $i }}{{ end }}{{ index .Data "x" "y" }}{{ get .Data "a" | default "z" }}`},
}

// FuzzRender: any value either renders to files the sink accepts, under
// the secret's name, or fails with an error that does not hold it.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"plain", `{"ca":"C","key":"K","x":1}`, `{"user":"u","api_key":"k"}`, "A=1\nB='x y'\n",
		`{"../x":1}`, `{"a":`, `[1,2]`, "export A=\"q\\\"\"\n", "A='unterminated\n", `{"x":{"y":[1]}}`,
	} {
		for i := range fuzzSecrets {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data string) {
		s := fuzzSecrets[int(which)%len(fuzzSecrets)]
		files, err := Render(s, []byte(data), "v1")
		if err != nil {
			if len(data) >= 8 && strings.Contains(err.Error(), data) {
				t.Fatalf("error holds the value: %v", err)
			}
			return
		}
		for _, file := range files {
			if err := config.ValidatePath(file.Path); err != nil {
				t.Fatalf("path %q: %v", file.Path, err)
			}
			if file.Path != s.Name && !strings.HasPrefix(file.Path, s.Name+"/") {
				t.Fatalf("path %q is outside %q", file.Path, s.Name)
			}
		}
	})
}
