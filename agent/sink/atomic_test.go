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
	if got := entries(t, w.Dir()); len(got) != 3 {
		t.Errorf("entries = %v, want one timestamped directory, ..data and counter", got)
	}
}
