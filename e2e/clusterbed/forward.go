package clusterbed

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// forwarder relays TCP connections from its listener to a fixed target.
type forwarder struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startForwarder(listen, target string) (*forwarder, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	return serveForwarder(l, target), nil
}

// serveForwarder relays the connections l accepts (a TLS listener
// terminates TLS) to target.
func serveForwarder(l net.Listener, target string) *forwarder {
	f := &forwarder{l: l, target: target, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	return f
}

// Addr is where pods connect.
func (f *forwarder) Addr() string { return f.l.Addr().String() }

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

func (f *forwarder) track(c net.Conn, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
}

func (f *forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	defer in.Close()
	out, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	f.track(in, true)
	f.track(out, true)
	defer f.track(in, false)
	defer f.track(out, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
}

// Close stops accepting and cuts every relayed connection.
func (f *forwarder) Close() {
	_ = f.l.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
