package testkit

import (
	"os"
	"slices"
)

// VaultBedHint is what a test or benchmark says when the bed is absent.
const VaultBedHint = `run hack/vault-bed.sh up and eval "$(hack/vault-bed.sh env)"`

// VaultBed is the Vault test bed as hack/vault-bed.sh's env file
// describes it: one reader, so that the unit tests, the e2e bed and the
// benchmarks agree on the variables' names.
type VaultBed struct {
	// Addr is the dev server's address (VAULT_ADDR); RootToken its root
	// token (VAULT_TOKEN).
	Addr      string
	RootToken string
	// VaultBin is the vault binary, for tests that run a server of their
	// own (SI_VAULT_BIN).
	VaultBin string
	// DBMount and DBConnection name the database secrets engine and its
	// PostgreSQL connection (SI_VAULT_DB_MOUNT, SI_VAULT_DB_CONNECTION).
	DBMount      string
	DBConnection string
	// PostgreSQL superuser access (SI_PG_*), and the psql client (SI_PSQL).
	PGHost, PGPort, PGUser, PGPassword, PGDatabase string
	PSQL                                           string
}

// ReadVaultBed reads the bed's variables from the environment; missing
// names, sorted, those that are unset or empty.
func ReadVaultBed() (b VaultBed, missing []string) {
	vars := []struct {
		name string
		to   *string
	}{
		{"VAULT_ADDR", &b.Addr}, {"VAULT_TOKEN", &b.RootToken}, {"SI_VAULT_BIN", &b.VaultBin},
		{"SI_VAULT_DB_MOUNT", &b.DBMount}, {"SI_VAULT_DB_CONNECTION", &b.DBConnection},
		{"SI_PG_HOST", &b.PGHost}, {"SI_PG_PORT", &b.PGPort}, {"SI_PG_USER", &b.PGUser},
		{"SI_PG_PASSWORD", &b.PGPassword}, {"SI_PG_DATABASE", &b.PGDatabase}, {"SI_PSQL", &b.PSQL},
	}
	for _, v := range vars {
		*v.to = os.Getenv(v.name)
		if *v.to == "" {
			missing = append(missing, v.name)
		}
	}
	slices.Sort(missing)
	return b, missing
}
