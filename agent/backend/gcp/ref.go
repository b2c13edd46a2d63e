package gcp

import "github.com/tradepulse/secret-injector/agent/backend/gcp/gcpref"

// MaxSecretIDLength is Secret Manager's limit on a secret ID.
const MaxSecretIDLength = gcpref.MaxSecretIDLength

// SecretID maps a runbook path to a Secret Manager secret ID by one
// reversible rule: the path's "/" separators become "--" (a double dash).
// See gcpref.SecretID, which this is.
func SecretID(path string) (string, error) { return gcpref.SecretID(path) }

// PathFromID is the inverse of SecretID: it returns the runbook path a
// secret ID stands for, and false when no path maps to id.
func PathFromID(id string) (string, bool) { return gcpref.PathFromID(id) }
