package backend

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// VersionKeySize is the length of a VersionKey in bytes.
const VersionKeySize = 32

// VersionKey keys the versions a backend derives from a secret's content,
// for secrets that carry no version of their own (the env backend, Vault
// KV v1 and other unleased paths). Versions are logged, shown by the admin
// API and saved beside the files: a plain hash of a short value (a PIN, a
// numeric key) would give the value away to anyone who tries every
// candidate. A keyed hash does not, as long as the key stays where the
// values are. One key per pod, shared by its agents, keeps versions
// comparable across the init container and the sidecar.
type VersionKey []byte

// NewVersionKey returns a random key.
func NewVersionKey() VersionKey {
	k := make(VersionKey, VersionKeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return k
}

// OrNew returns k, or a new random key where k is empty: what a backend
// given no key uses.
func (k VersionKey) OrNew() VersionKey {
	if len(k) == 0 {
		return NewVersionKey()
	}
	return k
}

// ContentVersion identifies data by content: the first 16 hex digits of
// its HMAC-SHA256 under k. k must not be empty: backends given no key make
// one with OrNew.
func (k VersionKey) ContentVersion(data []byte) string {
	if len(k) == 0 {
		panic("backend: ContentVersion with an empty key")
	}
	m := hmac.New(sha256.New, k)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil)[:8])
}
