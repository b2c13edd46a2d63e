package render

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// out is the file a case expects, with the default mode and owner.
func out(path, data string) sink.File {
	return sink.File{Path: path, Data: []byte(data), Mode: 0o400, UID: -1, GID: -1}
}

const postgresTLS = `{
  "ca":   "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  "cert": "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n",
  "key":  "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n",
  "comment": "rotated by the refresh workflow"
}`

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		secret  config.Secret
		data    string
		version string
		want    []sink.File
	}{
		{
			name:   "runbook exchanges api-key, raw",
			secret: config.Secret{Name: "binance-api-key", Ref: "tradepulse/exchanges/binance/api-key", Format: config.FormatRaw, Mode: 0o400},
			data:   "bnc-live-4f2a\n",
			want:   []sink.File{out("binance-api-key", "bnc-live-4f2a\n")},
		},
		{
			name:   "raw is the default format and keeps every byte",
			secret: config.Secret{Name: "blob"},
			data:   "\x00\xff{not json}\r\n",
			want:   []sink.File{out("blob", "\x00\xff{not json}\r\n")},
		},
		{
			name:   "mode and owner from the config",
			secret: config.Secret{Name: "api-secret", Mode: 0o440, Owner: &config.Owner{UID: 1000, GID: 2000}},
			data:   "s",
			want:   []sink.File{{Path: "api-secret", Data: []byte("s"), Mode: 0o440, UID: 1000, GID: 2000}},
		},
		{
			name: "runbook postgres-tls, json split with renames",
			secret: config.Secret{
				Name: "postgres-tls", Ref: "tradepulse/postgres-tls", Format: config.FormatJSON, Mode: 0o440,
				Fields: map[string]string{"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"},
			},
			data: postgresTLS,
			want: []sink.File{
				{Path: "postgres-tls/ca.crt", Data: []byte("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"), Mode: 0o440, UID: -1, GID: -1},
				{Path: "postgres-tls/tls.crt", Data: []byte("-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n"), Mode: 0o440, UID: -1, GID: -1},
				{Path: "postgres-tls/tls.key", Data: []byte("-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"), Mode: 0o440, UID: -1, GID: -1},
			},
		},
		{
			name:   "json without fields writes every field, each kind as text",
			secret: config.Secret{Name: "db", Format: config.FormatJSON},
			data:   `{"user":"svc","port":5432,"ratio":1.50,"tls":true,"none":null,"opts":{"b": [1, 2], "a": "x"},"hosts":["a", "b"],"app.conf":"k=v"}`,
			want: []sink.File{
				out("db/app.conf", "k=v"),
				out("db/hosts", `["a","b"]`),
				out("db/none", ""),
				out("db/opts", `{"b":[1,2],"a":"x"}`),
				out("db/port", "5432"),
				out("db/ratio", "1.50"),
				out("db/tls", "true"),
				out("db/user", "svc"),
			},
		},
		{
			name:   "json field renamed into a subdirectory",
			secret: config.Secret{Name: "tls", Format: config.FormatJSON, Fields: map[string]string{"ca": "ca/root.pem"}},
			data:   `{"ca":"C","other":"O"}`,
			want:   []sink.File{out("tls/ca/root.pem", "C")},
		},
		{
			name:   "json string escapes decoded",
			secret: config.Secret{Name: "s", Format: config.FormatJSON},
			data:   `{"v":"line1\nline2 \u00e9 \"q\""}`,
			want:   []sink.File{out("s/v", "line1\nline2 é \"q\"")},
		},
		{
			name:   "runbook mlflow, env from a JSON object",
			secret: config.Secret{Name: "mlflow.env", Ref: "tradepulse/mlflow", Format: config.FormatEnv},
			data:   `{"MLFLOW_TRACKING_URI":"https://mlflow.tradepulse.internal:5000","MLFLOW_TRACKING_USERNAME":"svc-trader","MLFLOW_TRACKING_PASSWORD":"p@ss w0rd$x"}`,
			want: []sink.File{out("mlflow.env", "MLFLOW_TRACKING_PASSWORD='p@ss w0rd$x'\n"+
				"MLFLOW_TRACKING_URI=https://mlflow.tradepulse.internal:5000\n"+
				"MLFLOW_TRACKING_USERNAME=svc-trader\n")},
		},
		{
			name: "runbook wandb, env with renamed fields only",
			secret: config.Secret{
				Name: "wandb.env", Ref: "tradepulse/wandb", Format: config.FormatEnv,
				Fields: map[string]string{"api_key": "WANDB_API_KEY", "entity": "WANDB_ENTITY"},
			},
			data: `{"api_key":"0123456789abcdef","entity":"tradepulse","notes":"not exported"}`,
			want: []sink.File{out("wandb.env", "WANDB_API_KEY=0123456789abcdef\nWANDB_ENTITY=tradepulse\n")},
		},
		{
			name:   "env values of every JSON kind",
			secret: config.Secret{Name: "e", Format: config.FormatEnv},
			data:   `{"N":42,"B":false,"Z":null,"O":{"k":"v"},"Q":"it's","E":""}`,
			want:   []sink.File{out("e", "B=false\nE=\nN=42\nO='{\"k\":\"v\"}'\nQ=\"it's\"\nZ=\n")},
		},
		{
			name:   "env from an empty object is an empty file",
			secret: config.Secret{Name: "e", Format: config.FormatEnv},
			data:   `{}`,
			want:   []sink.File{out("e", "")},
		},
		{
			name:   "env from KEY=value text, written in canonical quoting",
			secret: config.Secret{Name: "dev.env", Format: config.FormatEnv},
			data:   "# from .env\nexport WANDB_ENTITY=tradepulse\nMLFLOW_TRACKING_PASSWORD='p w'\n\nDB_URL=\"postgres://u@h/db\"\nMULTI='a\nb'\nSEMI=a;b\n",
			want:   []sink.File{out("dev.env", "DB_URL=postgres://u@h/db\nMLFLOW_TRACKING_PASSWORD='p w'\nMULTI='a\nb'\nSEMI='a;b'\nWANDB_ENTITY=tradepulse\n")},
		},
		{
			name:   "env from KEY=value text with renamed fields",
			secret: config.Secret{Name: "e", Format: config.FormatEnv, Fields: map[string]string{"KEY": "WANDB_API_KEY"}},
			data:   "KEY=abc\nOTHER=x\n",
			want:   []sink.File{out("e", "WANDB_API_KEY=abc\n")},
		},
		{
			name:   "env from blank text",
			secret: config.Secret{Name: "e", Format: config.FormatEnv},
			data:   "# nothing yet\n",
			want:   []sink.File{out("e", "")},
		},
		{
			name: "template over .Data and .Version",
			secret: config.Secret{Name: "pgpass", Format: config.FormatTemplate, Mode: 0o400,
				Template: `{{.Data.host}}:{{.Data.port}}:*:{{.Data.user}}:{{.Data.password}} # {{.Version}}`},
			data:    `{"host":"db","port":5432,"user":"svc","password":"pw"}`,
			version: "v7",
			want:    []sink.File{out("pgpass", "db:5432:*:svc:pw # v7")},
		},
		{
			name: "template funcs",
			secret: config.Secret{Name: "f", Format: config.FormatTemplate,
				Template: `{{.Raw | b64enc}} {{"aGk=" | b64dec}} [{{"  x " | trim}}] {{upper "a"}}{{lower "B"}} {{json .Data}} {{.Data.n | b64enc}}`},
			data: `{"n":12,"s":"v"}`,
			want: []sink.File{out("f", `eyJuIjoxMiwicyI6InYifQ== hi [x] Ab {"n":12,"s":"v"} MTI=`)},
		},
		{
			name:   "template over a value that is not JSON",
			secret: config.Secret{Name: "t", Format: config.FormatTemplate, Template: `token={{.Raw}}{{if not .Data}} (raw){{end}}`},
			data:   "abc",
			want:   []sink.File{out("t", "token=abc (raw)")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.secret, []byte(tc.data), tc.version)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// The files Render returns must be what the sink accepts.
func TestRenderOutputWrites(t *testing.T) {
	files, err := Render(config.Secret{
		Name: "postgres-tls", Format: config.FormatJSON,
		Fields: map[string]string{"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"},
	}, []byte(postgresTLS), "1")
	if err != nil {
		t.Fatal(err)
	}
	w, err := sink.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(files); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(w.Dir() + "/postgres-tls/tls.key")
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("tls.key: %v, %v", fi, err)
	}
}

// Render must not keep the caller's buffer: the agent reuses it.
func TestRenderRawCopies(t *testing.T) {
	data := []byte("abc")
	files, err := Render(config.Secret{Name: "a"}, data, "")
	if err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	if string(files[0].Data) != "abc" {
		t.Errorf("file data changed with the input buffer: %q", files[0].Data)
	}
}
