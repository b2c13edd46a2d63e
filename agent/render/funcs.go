package render

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// Functions sprig's hermetic set still holds that a secret's template does
// not get: each draws randomness or reads the clock, so the same secret
// would render differently each time (a new file, and the app told, with
// nothing changed), and the key and hash generators cost seconds of CPU
// or tens of MiB in an agent sized for neither.
var excludedFuncs = []string{
	// random
	"shuffle", "randInt", "bcrypt", "htpasswd", "encryptAES",
	"genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
	"genSignedCert", "genSignedCertWithKey",
	// scrypt with 32 MiB of state per call
	"derivePassword",
	// the clock
	"ago", "durationRound",
}

// ExcludedFuncs lists the functions of sprig's hermetic set
// (sprig.HermeticTxtFuncMap: no file, environment or network access, no
// clock or random source) that templates do not get, because they still
// draw randomness, read the clock or cost seconds of CPU.
func ExcludedFuncs() []string {
	return slices.Clone(excludedFuncs)
}

// baseFuncs is the function map before the per-render bounds: sprig's
// hermetic set less excludedFuncs, with its size-making functions checked
// before they allocate, the project's own functions, and strict index.
var baseFuncs = func() template.FuncMap {
	fm := sprig.HermeticTxtFuncMap()
	for _, name := range excludedFuncs {
		delete(fm, name)
	}
	untilStep := fm["untilStep"].(func(start, stop, step int) []int)
	until := fm["until"].(func(count int) []int)
	seq := fm["seq"].(func(params ...int) string)
	indent := fm["indent"].(func(spaces int, v string) string)
	nindent := fm["nindent"].(func(spaces int, v string) string)

	fm["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := checkItems(steps(start, stop, step)); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	fm["until"] = func(count int) ([]int, error) {
		if err := checkItems(steps(0, count, 1) + steps(0, count, -1)); err != nil {
			return nil, err
		}
		return until(count), nil
	}
	fm["seq"] = func(params ...int) (string, error) {
		if err := checkItems(seqLen(params)); err != nil {
			return "", err
		}
		return seq(params...), nil
	}
	fm["repeat"] = func(count int, s string) (string, error) {
		if count < 0 {
			return "", errors.New("negative count")
		}
		if err := checkSize(uint64(count) * uint64(len(s))); err != nil {
			return "", err
		}
		return strings.Repeat(s, count), nil
	}
	padded := func(f func(int, string) string) func(int, string) (string, error) {
		return func(spaces int, v string) (string, error) {
			if spaces < 0 {
				return "", errors.New("negative indent")
			}
			lines := uint64(strings.Count(v, "\n")) + 2
			if err := checkSize(uint64(spaces)*lines + uint64(len(v))); err != nil {
				return "", err
			}
			return f(spaces, v), nil
		}
	}
	fm["indent"] = padded(indent)
	fm["nindent"] = padded(nindent)

	// The project's own, from before sprig: they take any, so that JSON
	// numbers (json.Number) work where strings do, and b64dec fails on
	// bad input instead of writing sprig's error text into the file.
	fm["b64enc"] = func(v any) string { return base64.StdEncoding.EncodeToString([]byte(str(v))) }
	fm["b64dec"] = func(v any) (string, error) {
		b, err := base64.StdEncoding.DecodeString(str(v))
		if err != nil {
			return "", errors.New("input is not standard base64")
		}
		return string(b), nil
	}
	fm["trim"] = func(v any) string { return strings.TrimSpace(str(v)) }
	fm["upper"] = func(v any) string { return strings.ToUpper(str(v)) }
	fm["lower"] = func(v any) string { return strings.ToLower(str(v)) }
	fm["json"] = func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", errors.New("value cannot be written as JSON")
		}
		return string(b), nil
	}

	// Built-ins that can double a string per call get the size bound too.
	fm["print"] = fmt.Sprint
	fm["printf"] = fmt.Sprintf
	fm["println"] = fmt.Sprintln
	fm["index"] = strictIndex
	return fm
}()

// TemplateFuncs returns the functions a template may call, by name: the
// agent renders with them and the injector parses with them, so that a
// template admitted is one the agent can run. The map is a copy.
func TemplateFuncs() template.FuncMap {
	out := make(template.FuncMap, len(baseFuncs))
	for k, v := range baseFuncs {
		out[k] = v
	}
	return out
}

// steps counts start, start+step, ... short of stop, as untilStep does,
// without overflow.
func steps(start, stop, step int) uint64 {
	switch {
	case step > 0 && start < stop:
		d := uint64(stop) - uint64(start)
		return (d + uint64(step) - 1) / uint64(step)
	case step < 0 && stop < start:
		d := uint64(start) - uint64(stop)
		s := uint64(-(step + 1)) + 1
		return (d + s - 1) / s
	}
	return 0
}

// seqLen is how many numbers seq(params...) writes.
func seqLen(p []int) uint64 {
	inc := func(start, end int) int {
		if end < start {
			return -1
		}
		return 1
	}
	switch len(p) {
	case 1:
		return steps(1, p[0]+inc(1, p[0]), inc(1, p[0]))
	case 2:
		return steps(p[0], p[1]+inc(p[0], p[1]), inc(p[0], p[1]))
	case 3:
		return steps(p[0], p[2]+inc(p[0], p[2]), p[1])
	}
	return 0
}

// strictIndex is text/template's index, except that a missing map key is
// an error, as .Data.key is (missingkey=error), rather than "<no value>"
// in the file. Its errors name neither the key nor the index: either may
// come from the secret.
func strictIndex(item reflect.Value, indexes ...reflect.Value) (reflect.Value, error) {
	item = indirectValue(item)
	if !item.IsValid() {
		return reflect.Value{}, errors.New("index of a nil value")
	}
	for n, ix := range indexes {
		ix = indirectValue(ix)
		switch item.Kind() {
		case reflect.Map:
			if !ix.IsValid() {
				return reflect.Value{}, errors.New("index of a map with a nil key")
			}
			kt := item.Type().Key()
			switch {
			case ix.Type().AssignableTo(kt):
			case ix.Type().ConvertibleTo(kt) && ix.Kind() != reflect.String && kt.Kind() != reflect.String:
				ix = ix.Convert(kt)
			default:
				return reflect.Value{}, fmt.Errorf("a %s key cannot index a map of %s keys", ix.Type(), kt)
			}
			v := item.MapIndex(ix)
			if !v.IsValid() {
				return reflect.Value{}, errors.New("the map has no such key")
			}
			item = v
		case reflect.Slice, reflect.Array, reflect.String:
			i, ok := intOf(ix)
			if !ok {
				return reflect.Value{}, errors.New("a list or string is indexed by an integer")
			}
			if i < 0 || i >= int64(item.Len()) {
				return reflect.Value{}, errors.New("index out of range")
			}
			item = item.Index(int(i))
		default:
			return reflect.Value{}, fmt.Errorf("cannot index a %s", item.Kind())
		}
		item = indirectValue(item)
		if !item.IsValid() && n < len(indexes)-1 {
			return reflect.Value{}, errors.New("index of a nil value")
		}
	}
	return item, nil
}

// intOf reads an integer index; a json.Number counts.
func intOf(v reflect.Value) (int64, bool) {
	if !v.IsValid() {
		return 0, false
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > 1<<62 {
			return -1, true
		}
		return int64(v.Uint()), true
	}
	if n, ok := v.Interface().(json.Number); ok {
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// indirectValue goes through interfaces and pointers.
func indirectValue(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
