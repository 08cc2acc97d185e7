// Package tcpproxy is a TCP proxy for fault injection: it forwards
// connections to a backend until told to cut them, as a network or a
// database restart would, and forwards again when restored.
package tcpproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Mode is how the proxy treats connections.
type Mode int

const (
	// Forward passes connections through to the backend.
	Forward Mode = iota
	// Refuse drops every open connection and hangs up on new ones at once:
	// a database that restarted or a port nobody listens on.
	Refuse
	// Blackhole is a network partition: what is sent on open connections
	// vanishes, new connections are accepted but never answered, and only
	// timeouts tell. Leaving it (Set(Forward)) drops those connections, as
	// the peers' TCP would in the end.
	Blackhole
)

// Proxy listens on a loopback port and forwards to a backend address.
type Proxy struct {
	ln      net.Listener
	backend string

	mu    sync.Mutex
	mode  Mode
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	done  chan struct{}
}

// Start runs a proxy to backend for the length of the test.
func Start(t testing.TB, backend string) *Proxy {
	t.Helper()
	p, err := New(backend)
	if err != nil {
		t.Fatalf("tcpproxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// New runs a proxy on 127.0.0.1:0 until Close.
func New(backend string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is host:port where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode. Refuse drops every connection open now; Blackhole
// keeps them open and silent; Forward after Blackhole drops the silenced
// ones.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	prev := p.mode
	p.mode = m
	var drop []net.Conn
	if m == Refuse || (m == Forward && prev == Blackhole) {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Close stops the proxy and drops every connection.
func (p *Proxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	_ = p.ln.Close()
	p.Set(Refuse)
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case Refuse:
			_ = c.Close()
			continue
		case Blackhole:
			// Held open and silent until the mode changes or the client
			// gives up.
			if !p.track(c) {
				_ = c.Close()
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(io.Discard, c)
				p.untrack(c)
			}()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c) || !p.track(b) {
		p.untrack(c)
		p.untrack(b)
		return
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { p.untrack(c); p.untrack(b) }) }
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.copy(b, c)
		closeBoth()
	}()
	p.copy(c, b)
	closeBoth()
}

// copy forwards src to dst, dropping what arrives while in Blackhole.
func (p *Proxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			silent := p.mode == Blackhole
			p.mu.Unlock()
			if !silent {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
