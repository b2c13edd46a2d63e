package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// enumValue is a string flag limited to a few words: another value fails
// the parse, naming the flag and the words, before the command runs.
type enumValue struct {
	p     *string
	words []string
}

func (e *enumValue) String() string { return *e.p }
func (e *enumValue) Type() string   { return "string" }

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.words, s) {
		return fmt.Errorf("want %s", orList(e.words))
	}
	*e.p = s
	return nil
}

// EnumVarP declares a string flag on fs that takes only one of words;
// value is its default, shorthand may be "".
func EnumVarP(fs *pflag.FlagSet, p *string, name, shorthand, value string, words []string, usage string) {
	*p = value
	fs.VarP(&enumValue{p: p, words: words}, name, shorthand, usage+" ("+strings.Join(words, "|")+")")
}

// orList is "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// OutputVar declares kubectl's -o/--output on fs with formats, the
// first being the default.
func OutputVar(fs *pflag.FlagSet, p *string, formats ...string) {
	EnumVarP(fs, p, "output", "o", formats[0], formats, "output format")
}
