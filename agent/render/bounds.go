package render

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"slices"
	"text/template"
	tparse "text/template/parse"
	"time"
)

// Bounds on one template's execution. text/template cannot be cancelled,
// so the renderer checks them itself: the output at every write, the time
// at every function call, every range iteration and every {{template}}
// call (the only ways a template loops), the depth of {{template}} calls,
// and the size of every function's result, so that no string or list
// grows past them between writes.
const (
	// MaxTemplateOutput is the most one template may write: 1 MiB, a
	// quarter of the chart's default secrets volume.
	MaxTemplateOutput = 1 << 20
	// TemplateTimeout is the longest one template may run.
	TemplateTimeout = 2 * time.Second
	// MaxTemplateItems is the longest list a function may return (until,
	// seq, list, keys, ...).
	MaxTemplateItems = 100_000
	// MaxTemplateDepth is how deep {{template}} calls may nest: a
	// template that calls itself stops here, long before text/template's
	// own limit (100,000 calls deep, more stack than the agent has memory).
	MaxTemplateDepth = 256
)

// ErrTemplateTooLarge and ErrTemplateTimeout are a template stopped by
// its bounds; the render error wraps them.
var (
	ErrTemplateTooLarge = fmt.Errorf("output or a value it computes would be over %d bytes (%d items for a list), the most a template may make", MaxTemplateOutput, MaxTemplateItems)
	ErrTemplateTimeout  = errors.New("it ran longer than " + TemplateTimeout.String() + " and was stopped (loops and recursion are bounded by time)")
	ErrTemplateDepth    = fmt.Errorf("{{template}} calls nest more than %d deep", MaxTemplateDepth)
)

// templateTimeout is TemplateTimeout; tests shorten it.
var templateTimeout = TemplateTimeout

func checkSize(n uint64) error {
	if n > MaxTemplateOutput {
		return ErrTemplateTooLarge
	}
	return nil
}

func checkItems(n uint64) error {
	if n > MaxTemplateItems {
		return ErrTemplateTooLarge
	}
	return nil
}

// budget is one execution's bounds.
type budget struct {
	deadline time.Time
	written  int
	depth    int
}

func newBudget() *budget {
	return &budget{deadline: time.Now().Add(templateTimeout)}
}

func (b *budget) tick() error {
	if time.Now().After(b.deadline) {
		return ErrTemplateTimeout
	}
	return nil
}

// limitedWriter is the template's output, cut at MaxTemplateOutput.
type limitedWriter struct {
	w io.Writer
	b *budget
}

func (l limitedWriter) Write(p []byte) (int, error) {
	if err := l.b.tick(); err != nil {
		return 0, err
	}
	if l.b.written+len(p) > MaxTemplateOutput {
		return 0, ErrTemplateTooLarge
	}
	l.b.written += len(p)
	return l.w.Write(p)
}

// boundedFuncs wraps every function of fm with the budget's checks: the
// time before the call, the result's size after it. A function that
// breaks a bound panics with the bound's error, which text/template turns
// into "error calling <name>: <bound>".
func boundedFuncs(fm template.FuncMap, b *budget) template.FuncMap {
	out := make(template.FuncMap, len(fm)+3)
	for name, fn := range fm {
		fv := reflect.ValueOf(fn)
		ft := fv.Type()
		out[name] = reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
			if err := b.tick(); err != nil {
				panic(err)
			}
			var res []reflect.Value
			if ft.IsVariadic() {
				res = fv.CallSlice(args)
			} else {
				res = fv.Call(args)
			}
			if len(res) > 0 && (len(res) == 1 || res[1].IsNil()) {
				if err := checkResult(res[0]); err != nil {
					panic(err)
				}
			}
			return res
		}).Interface()
	}
	// These take any, so that a nil pipeline reaches them, and return a
	// reflect.Value, which text/template unwraps: nil stays "no value",
	// as it was before the rewrite (a range over nothing runs its else).
	out[rangeOne] = func(v any) reflect.Value { return rangeSeq(reflect.ValueOf(v), b, false) }
	out[rangeTwo] = func(v any) reflect.Value { return rangeSeq(reflect.ValueOf(v), b, true) }
	out[enter] = func() (string, error) {
		if err := b.tick(); err != nil {
			return "", err
		}
		if b.depth++; b.depth > MaxTemplateDepth {
			return "", ErrTemplateDepth
		}
		return "", nil
	}
	out[leave] = func() string {
		b.depth--
		return ""
	}
	return out
}

// checkResult bounds a function's result: text by bytes, lists and maps
// by items.
func checkResult(v reflect.Value) error {
	v = indirectValue(v)
	if !v.IsValid() {
		return nil
	}
	if v.Type() == reflect.TypeFor[reflect.Value]() {
		return checkResult(v.Interface().(reflect.Value))
	}
	switch v.Kind() {
	case reflect.String:
		return checkSize(uint64(v.Len()))
	case reflect.Slice, reflect.Array, reflect.Map:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return checkSize(uint64(v.Len()))
		}
		return checkItems(uint64(v.Len()))
	}
	return nil
}

// Names of the functions the renderer adds to parsed templates. They are
// not in the map a template is parsed with, so a template cannot call
// them itself.
const (
	rangeOne = "_secretInjectorRange1"
	rangeTwo = "_secretInjectorRange2"
	enter    = "_secretInjectorEnter"
	leave    = "_secretInjectorLeave"
)

// instrument rewrites every tree of t so that each range iterates through
// the budget (rangeOne, rangeTwo), and each template's body starts with
// enter and ends with leave, which count the depth of {{template}} calls
// and check the time. Without it, {{range 1000000000}}{{end}} or a
// template that calls itself twice would run on after the deadline. (An
// error ends the whole execution, so a body left early needs no leave.)
func instrument(t *template.Template) {
	for _, sub := range t.Templates() {
		tr := sub.Tree
		if tr == nil || tr.Root == nil {
			continue
		}
		instrumentNode(tr, tr.Root)
		nodes := make([]tparse.Node, 0, len(tr.Root.Nodes)+2)
		nodes = append(nodes, action(tr, tr.Root.Pos, enter))
		nodes = append(nodes, tr.Root.Nodes...)
		tr.Root.Nodes = append(nodes, action(tr, tr.Root.Pos, leave))
	}
}

// action is {{name}}.
func action(tr *tparse.Tree, pos tparse.Pos, name string) *tparse.ActionNode {
	id := tparse.NewIdentifier(name).SetTree(tr).SetPos(pos)
	cmd := &tparse.CommandNode{NodeType: tparse.NodeCommand, Pos: pos, Args: []tparse.Node{id}}
	return &tparse.ActionNode{NodeType: tparse.NodeAction, Pos: pos,
		Pipe: &tparse.PipeNode{NodeType: tparse.NodePipe, Pos: pos, Cmds: []*tparse.CommandNode{cmd}}}
}

func instrumentNode(tr *tparse.Tree, n tparse.Node) {
	switch n := n.(type) {
	case *tparse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			instrumentNode(tr, c)
		}
	case *tparse.IfNode:
		instrumentNode(tr, n.List)
		instrumentNode(tr, n.ElseList)
	case *tparse.WithNode:
		instrumentNode(tr, n.List)
		instrumentNode(tr, n.ElseList)
	case *tparse.RangeNode:
		name := rangeOne
		if len(n.Pipe.Decl) > 1 {
			name = rangeTwo
		}
		wrap(tr, n.Pipe, name)
		instrumentNode(tr, n.List)
		instrumentNode(tr, n.ElseList)
	}
}

// wrap makes pipeline p "name (p)", keeping its variables: the original
// stages run first, as an argument, so that an error about their value
// still points at them, not at name.
func wrap(tr *tparse.Tree, p *tparse.PipeNode, name string) {
	id := tparse.NewIdentifier(name).SetTree(tr).SetPos(p.Pos)
	args := []tparse.Node{id}
	if len(p.Cmds) > 0 {
		args = append(args, &tparse.PipeNode{NodeType: tparse.NodePipe, Pos: p.Pos, Line: p.Line, Cmds: p.Cmds})
	}
	p.Cmds = []*tparse.CommandNode{{NodeType: tparse.NodeCommand, Pos: p.Pos, Args: args}}
}

// rangeSeq turns what a range iterates over into an iterator that checks
// the budget before each element, in the order text/template would use
// (maps by sorted key). two says the range declares two variables, so the
// iterator yields index (or key) and element. A value it cannot order
// the same way (a map with keys of another kind, a channel) is returned
// as it is, for text/template to range over or refuse.
func rangeSeq(v reflect.Value, b *budget, two bool) reflect.Value {
	orig := v
	v = indirectValue(v)
	if !v.IsValid() {
		return reflect.Value{}
	}
	check := func() {
		if err := b.tick(); err != nil {
			panic(template.ExecError{Name: "range", Err: err})
		}
	}
	var keys []reflect.Value
	var at func(i int) (k, e reflect.Value)
	n := 0
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if two {
			return orig // text/template's own error: one variable only
		}
		return reflect.ValueOf(iter.Seq[any](func(yield func(any) bool) {
			for e := range v.Seq() {
				check()
				if !yield(e.Interface()) {
					return
				}
			}
		}))
	case reflect.Slice, reflect.Array:
		n = v.Len()
		at = func(i int) (reflect.Value, reflect.Value) { return reflect.ValueOf(i), v.Index(i) }
	case reflect.Map:
		var ok bool
		if keys, ok = sortedKeys(v); !ok {
			return orig
		}
		n = len(keys)
		at = func(i int) (reflect.Value, reflect.Value) { return keys[i], v.MapIndex(keys[i]) }
	default:
		return orig
	}
	if two {
		return reflect.ValueOf(iter.Seq2[any, any](func(yield func(any, any) bool) {
			for i := range n {
				check()
				k, e := at(i)
				if !yield(k.Interface(), e.Interface()) {
					return
				}
			}
		}))
	}
	return reflect.ValueOf(iter.Seq[any](func(yield func(any) bool) {
		for i := range n {
			check()
			_, e := at(i)
			if !yield(e.Interface()) {
				return
			}
		}
	}))
}

// sortedKeys orders a map's keys as text/template does, for the key kinds
// templates meet (strings, numbers, booleans); false for any other.
func sortedKeys(m reflect.Value) ([]reflect.Value, bool) {
	keys := m.MapKeys()
	var less func(a, b reflect.Value) int
	switch m.Type().Key().Kind() {
	case reflect.String:
		less = func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		less = func(a, b reflect.Value) int { return cmp.Compare(a.Int(), b.Int()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		less = func(a, b reflect.Value) int { return cmp.Compare(a.Uint(), b.Uint()) }
	case reflect.Float32, reflect.Float64:
		less = func(a, b reflect.Value) int { return cmp.Compare(a.Float(), b.Float()) }
	case reflect.Bool:
		less = func(a, b reflect.Value) int {
			switch {
			case a.Bool() == b.Bool():
				return 0
			case !a.Bool():
				return -1
			}
			return 1
		}
	default:
		return nil, false
	}
	slices.SortFunc(keys, less)
	return keys, true
}
