package config

import (
	"errors"
	"fmt"
)

// FieldError is one problem of a Config: the field at fault, as a path in
// the style of apimachinery's field.Path ("secrets[2].refreshInterval",
// "secrets[0].fields[ca]"), and what is wrong with it. The agent shows
// Error; the injector maps Path to the annotation the field came from, so
// that one validator serves both.
type FieldError struct {
	// Path names the field: JSON names joined by ".", list indexes and
	// map keys in brackets.
	Path string
	// Detail says what is wrong, without the path.
	Detail string
}

// Error reads "<path>: <detail>".
func (e *FieldError) Error() string { return e.Path + ": " + e.Detail }

// FieldErrors is every problem found, in the order found.
type FieldErrors []*FieldError

// Err joins the problems with errors.Join, one a line (each stays
// reachable as a *FieldError); nil when there are none.
func (l FieldErrors) Err() error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// add records a problem of the field at path.
func (l *FieldErrors) add(path, format string, args ...any) {
	*l = append(*l, &FieldError{Path: path, Detail: fmt.Sprintf(format, args...)})
}

// index is the path of element i of the list at path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// mapKey is the path of the map entry k at path.
func mapKey(path, k string) string { return path + "[" + k + "]" }
