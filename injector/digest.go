package injector

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// AnnotationDigest is written by the webhook next to AnnotationStatus: a
// MAC over everything the injector reads and writes in the pod it has just
// injected (the annotations it reads, see Covered, and the pod's spec as
// JSON), keyed by the webhook process and its options. A reinvoked
// webhook that finds the pod exactly as it left it answers "no change"
// from the MAC alone (see Digester). A user cannot forge one (the key never leaves the
// process); a copied or stale value only costs the full injection.
//
//	secrets.tradepulse.io/digest: 3q2-7w…
const AnnotationDigest = Prefix + "digest"

// digestVersion names the layout of what the digest covers; a change of
// layout changes every digest.
const digestVersion = "secret-injector digest v1\x00"

// processKey keys every digest of this process. It is random, so a digest
// holds only within the webhook process that wrote it: another replica, or
// the webhook restarted (with new flags, or a new build whose injector
// writes other containers), computes other digests and takes the full
// path. That also makes the injector's code part of what the digest
// covers, without naming a build.
var processKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("injector: no randomness for the digest key: %v", err))
	}
	return k
}()

// Digester writes and checks AnnotationDigest for one set of Options. It is
// safe for concurrent use.
type Digester struct {
	// opts are checked: validated, with their defaults.
	opts Options
	// key is the MAC key for these options: HMAC(processKey, the options
	// as JSON), so that options that differ in anything give other
	// digests.
	key []byte
}

// NewDigester validates opts, once for every pod it will patch, and
// fingerprints them; they must not change afterwards (their lists are
// shared, not copied). Invalid options are an error, as they are for
// Inject.
func NewDigester(opts Options) (*Digester, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	fp, err := json.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("injector: fingerprint options: %w", err)
	}
	m := hmac.New(sha256.New, processKey)
	m.Write([]byte(digestVersion))
	m.Write(fp)
	return &Digester{opts: opts, key: m.Sum(nil)}, nil
}

// Patch is Patch with the digest: when the pod needs operations, they also
// set AnnotationDigest to the digest of the pod they make. No operations is
// no operations: the answer for a pod that needs nothing is Patch's, digest
// or none.
func (d *Digester) Patch(pod *corev1.Pod) ([]Op, error) {
	out, err := inject(pod, d.opts)
	if out == nil {
		return nil, err
	}
	ops, err := patchOps(pod, out)
	if err != nil || len(ops) == 0 {
		return ops, err
	}
	// The spec as the API server will encode it to the next webhook: the
	// same Go types through encoding/json, straight into the MAC. Where it
	// encodes otherwise (a field our types do not know, defaulting after
	// our patch), the digest does not match and that pod takes the full
	// path.
	m := d.annotationsMAC(out.Annotations)
	if err := json.NewEncoder(m).Encode(&out.Spec); err != nil {
		return nil, fmt.Errorf("injector: encode the spec for the digest: %w", err)
	}
	// An opted-in pod has annotations, so the key is added to them.
	sum := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return append(ops, Op{Op: OpAdd, Path: "/metadata/annotations/" + escapePointer(AnnotationDigest), Value: sum}), nil
}

// Sum is the digest of a pod with these annotations and this spec, its
// JSON as the API server sends it.
func (d *Digester) Sum(annotations map[string]string, spec []byte) string {
	m := d.annotationsMAC(annotations)
	m.Write(spec)
	m.Write([]byte{'\n'}) // json.Encoder ends a value with a newline
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Covered says whether the digest covers an annotation: every key the
// injector reads, that is every key under Prefix (but AnnotationDigest
// itself) and the EKS identity webhook's skip list (aws.go). Other
// annotations are neither read nor written by Inject, so another webhook
// that adds one leaves the digest valid. An injector that starts reading
// another key outside Prefix must add it here (TestDigestCoversWhatInjectReads).
func Covered(key string) bool {
	return key != AnnotationDigest && (strings.HasPrefix(key, Prefix) || key == EKSSkipContainersAnnotation)
}

// annotationsMAC starts a MAC with the covered annotations, in key order,
// each key and value length-prefixed so that no two sets write the same
// bytes; the spec follows, last, so its end is the input's end.
func (d *Digester) annotationsMAC(annotations map[string]string) hash.Hash {
	keys := make([]string, 0, len(annotations))
	n := 0
	for k, v := range annotations {
		if Covered(k) {
			keys = append(keys, k)
			n += 16 + len(k) + len(v)
		}
	}
	slices.Sort(keys)
	buf := make([]byte, 0, 8+n)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(annotations[k])))
		buf = append(buf, annotations[k]...)
	}
	m := hmac.New(sha256.New, d.key)
	m.Write(buf)
	return m
}

// Unchanged reports whether a pod with these annotations and this spec (its
// JSON as received) is one this Digester's Patch has injected and nothing
// the digest covers has changed since: it carries AnnotationStatus, and
// AnnotationDigest matches. Patch would then answer no operations. False
// says nothing: the full path decides.
func (d *Digester) Unchanged(annotations map[string]string, spec []byte) bool {
	got, ok := annotations[AnnotationDigest]
	if !ok || annotations[AnnotationStatus] != StatusInjected || len(spec) == 0 {
		return false
	}
	return hmac.Equal([]byte(got), []byte(d.Sum(annotations, spec)))
}
