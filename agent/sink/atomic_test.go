package sink

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// block is payload n's content: n as 8 bytes, repeated to fill 4 KiB times
// 1 to 4, so a torn or mixed read shows in the length or in the bytes.
func block(n int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "%07d\n", n), 512*(1+n%4))
}

// checkBlock reports what is wrong with data read from a file holding some
// block(n), or "" when it is one whole block.
func checkBlock(data []byte) string {
	if len(data) < 8 {
		return fmt.Sprintf("short read of %d bytes", len(data))
	}
	n, err := strconv.Atoi(string(data[:7]))
	if err != nil {
		return fmt.Sprintf("garbled header %q", data[:8])
	}
	if !bytes.Equal(data, block(n)) {
		return fmt.Sprintf("%d bytes mixing versions, starting with version %d", len(data), n)
	}
	return ""
}

func TestReadersNeverSeePartialOrMixedContent(t *testing.T) {
	const rewrites = 400
	w, _ := newTestWriter(t)
	payload := func(n int) []File {
		return []File{
			{Path: "counter", Data: block(n), Mode: 0o400, UID: -1, GID: -1},
			{Path: "nested/counter", Data: block(n), Mode: 0o440, UID: -1, GID: -1},
		}
	}
	mustWrite(t, w, payload(0)...)

	var (
		done  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		bad   []string
	)
	for _, name := range []string{"counter", "nested/counter", "counter"} {
		wg.Go(func() {
			path := filepath.Join(w.Dir(), name)
			last := 0
			for !done.Load() {
				data, err := os.ReadFile(path)
				problem := ""
				switch {
				case err != nil:
					problem = err.Error()
				default:
					problem = checkBlock(data)
				}
				if problem == "" {
					n, _ := strconv.Atoi(string(data[:7]))
					if n < last {
						problem = fmt.Sprintf("went back from version %d to %d", last, n)
					}
					last = n
				}
				if problem != "" {
					mu.Lock()
					bad = append(bad, name+": "+problem)
					mu.Unlock()
					return
				}
				reads.Add(1)
			}
		})
	}
	for n := 1; n <= rewrites; n++ {
		if !mustWrite(t, w, payload(n)...) {
			t.Fatalf("rewrite %d reported unchanged", n)
		}
	}
	done.Store(true)
	wg.Wait()

	for _, b := range bad {
		t.Error(b)
	}
	if r := reads.Load(); r < rewrites {
		t.Errorf("only %d reads across %d rewrites: the readers did not overlap the writes", r, rewrites)
	}
	if diff := checkBlock([]byte(visible(t, w.Dir())["counter"].Data)); diff != "" {
		t.Error(diff)
	}
}

func TestConcurrentWritesSerialise(t *testing.T) {
	w, _ := newTestWriter(t)
	farApart(w)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				n := g*100 + i
				if _, err := w.Write([]File{{Path: "counter", Data: block(n), Mode: 0o400, UID: -1, GID: -1}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if problem := checkBlock([]byte(visible(t, w.Dir())["counter"].Data)); problem != "" {
		t.Error(problem)
	}
	if got := entries(t, w.Dir()); len(got) != 4 {
		t.Errorf("entries = %v, want the current and the previous timestamped directory, ..data and counter", got)
	}
}

// A reader resolves ..data, then opens a file in the directory it points
// at. A swap between the two must not make the file vanish: the generation
// a swap replaces stays until the next swap, and only then goes (here the
// writes are far apart: the grace is over at each).
func TestPreviousGenerationOutlivesOneSwap(t *testing.T) {
	w, _ := newTestWriter(t)
	farApart(w)
	mustWrite(t, w, file("counter", "1", 0o400))
	resolved := dataTarget(t, w.Dir()) // the reader's first step

	mustWrite(t, w, file("counter", "2", 0o400))
	data, err := os.ReadFile(filepath.Join(w.Dir(), resolved, "counter")) // its second
	if err != nil || string(data) != "1" {
		t.Fatalf("reading through the generation resolved before the swap: %q, %v", data, err)
	}
	if mustWrite(t, w, file("counter", "2", 0o400)) {
		t.Fatal("unchanged payload reported a change")
	}
	if _, err := os.Stat(filepath.Join(w.Dir(), resolved)); err != nil {
		t.Fatalf("an unchanged write removed the previous generation: %v", err)
	}

	mustWrite(t, w, file("counter", "3", 0o400))
	if _, err := os.Stat(filepath.Join(w.Dir(), resolved)); !os.IsNotExist(err) {
		t.Errorf("the generation before the previous one is still there after the next swap: %v", err)
	}
	if got := entries(t, w.Dir()); len(got) != 4 {
		t.Errorf("entries = %v, want two timestamped directories, ..data and counter", got)
	}
}

// On a loaded node a reader can stall between its steps while several
// swaps go by: every replaced generation stays for RetireGrace after it was
// replaced, then goes at the next write, changed or not.
func TestRetiredGenerationsOutliveTheGrace(t *testing.T) {
	w, _ := newTestWriter(t)
	now := time.Now()
	w.now = func() time.Time { return now }
	var gens []string
	for i := range 5 {
		mustWrite(t, w, file("counter", strconv.Itoa(i), 0o400))
		gens = append(gens, dataTarget(t, w.Dir()))
	}
	for _, g := range gens {
		if _, err := os.Stat(filepath.Join(w.Dir(), g, "counter")); err != nil {
			t.Errorf("generation %s gone within the grace: %v", g, err)
		}
	}

	now = now.Add(RetireGrace)
	if mustWrite(t, w, file("counter", "4", 0o400)) {
		t.Fatal("unchanged payload reported a change")
	}
	for i, g := range gens {
		_, err := os.Stat(filepath.Join(w.Dir(), g))
		if keep := i >= 3; keep != (err == nil) {
			t.Errorf("generation %d of 5 after the grace: %v, want kept=%v (the current one and the one it replaced)", i+1, err, keep)
		}
	}
}
