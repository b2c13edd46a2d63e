package bed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/tradepulse/secret-injector/e2e/podrunner"
)

// Runbook is one set of the operators' runbook secrets, with values unique
// to one test or demo run: tradepulse/postgres-tls (JSON {ca, cert, key}),
// tradepulse/exchanges/<venue>/api-key and api-secret, tradepulse/mlflow
// and tradepulse/wandb.
type Runbook struct {
	Venue                  string
	CA, Cert, Key          string
	APIKey, APISecret      string
	MLflowUser, MLflowPass string
	WandbKey               string
}

// Token is 12 random hex digits.
func Token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewRunbook returns fresh values for venue's exchange keys and the rest.
func NewRunbook(venue string) Runbook {
	tk := Token()
	return Runbook{
		Venue:  venue,
		CA:     "-----BEGIN CERTIFICATE-----\nca-" + tk + "\n-----END CERTIFICATE-----\n",
		Cert:   "-----BEGIN CERTIFICATE-----\ncert-" + tk + "\n-----END CERTIFICATE-----\n",
		Key:    "-----BEGIN PRIVATE KEY-----\nkey-" + tk + "\n-----END PRIVATE KEY-----\n",
		APIKey: "ak-" + tk, APISecret: "as-" + tk,
		MLflowUser: "mlflow-" + tk, MLflowPass: "mp-" + tk, WandbKey: "wk-" + tk,
	}
}

// Values are the secret values that must never reach a log.
func (r Runbook) Values() []string {
	// The key's body line alone, too: a log might hold a line of it.
	return []string{r.APIKey, r.APISecret, r.MLflowPass, r.WandbKey, r.Key, strings.Split(r.Key, "\n")[1]}
}

// KeyPath is the venue's exchange api key path.
func (r Runbook) KeyPath() string { return "tradepulse/exchanges/" + r.Venue + "/api-key" }

// SecretPath is the venue's exchange api secret path.
func (r Runbook) SecretPath() string { return "tradepulse/exchanges/" + r.Venue + "/api-secret" }

// KeyFile is the api key's file name under the mount path.
func (r Runbook) KeyFile() string { return r.Venue + "-api-key" }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Provision writes every runbook secret into the backend.
func (r Runbook) Provision(ctx context.Context, b Backend) error {
	for _, s := range []struct {
		path   string
		value  []byte
		object bool
	}{
		{"tradepulse/postgres-tls", mustJSON(map[string]string{"ca": r.CA, "cert": r.Cert, "key": r.Key}), true},
		{r.KeyPath(), []byte(r.APIKey), false},
		{r.SecretPath(), []byte(r.APISecret), false},
		{"tradepulse/mlflow", mustJSON(map[string]string{"username": r.MLflowUser, "password": r.MLflowPass}), true},
		{"tradepulse/wandb", mustJSON(map[string]string{"api_key": r.WandbKey}), true},
	} {
		if err := b.Put(ctx, s.path, s.value, s.object); err != nil {
			return err
		}
	}
	return nil
}

// ProvisionRunbook makes a NewRunbook for venue, hands each of its Values
// to secret (a demo checks that none reaches its output), and writes it
// into b.
func ProvisionRunbook(ctx context.Context, b Backend, venue string, secret func(string)) (Runbook, error) {
	r := NewRunbook(venue)
	for _, v := range r.Values() {
		secret(v)
	}
	return r, r.Provision(ctx, b)
}

// Annotations are the runbook pod's annotations (without the prefix), as
// injector/ANNOTATIONS.md's complete example gives them.
func (r Runbook) Annotations(b Backend, refresh string) map[string]string {
	v := r.Venue
	return map[string]string{
		"refresh-interval":            refresh,
		"secret-postgres-tls":         b.Ref("tradepulse/postgres-tls", true),
		"format-postgres-tls":         "json",
		"fields-postgres-tls":         "ca=ca.crt,cert=tls.crt,key=tls.key",
		"file-mode-postgres-tls":      "0440",
		"secret-" + v + "-api-key":    b.Ref(r.KeyPath(), false),
		"secret-" + v + "-api-secret": b.Ref(r.SecretPath(), false),
		"secret-mlflow.env":           b.Ref("tradepulse/mlflow", true),
		"format-mlflow.env":           "env",
		"fields-mlflow.env":           "username=MLFLOW_TRACKING_USERNAME,password=MLFLOW_TRACKING_PASSWORD",
		"secret-wandb.env":            b.Ref("tradepulse/wandb", true),
		"format-wandb.env":            "env",
		"fields-wandb.env":            "api_key=WANDB_API_KEY",
	}
}

// Files are what the app must find under the mount path, with modes.
func (r Runbook) Files() map[string]podrunner.File {
	v := r.Venue
	return map[string]podrunner.File{
		"postgres-tls/ca.crt":  {Mode: 0o440, Data: r.CA},
		"postgres-tls/tls.crt": {Mode: 0o440, Data: r.Cert},
		"postgres-tls/tls.key": {Mode: 0o440, Data: r.Key},
		v + "-api-key":         {Mode: 0o400, Data: r.APIKey},
		v + "-api-secret":      {Mode: 0o400, Data: r.APISecret},
		"mlflow.env":           {Mode: 0o400, Data: "MLFLOW_TRACKING_PASSWORD=" + r.MLflowPass + "\nMLFLOW_TRACKING_USERNAME=" + r.MLflowUser + "\n"},
		"wandb.env":            {Mode: 0o400, Data: "WANDB_API_KEY=" + r.WandbKey + "\n"},
	}
}
