package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/npsgate/npsgate/channels"
)

// conn is one SMTP session, dialled once and reused for many messages.
type conn struct {
	id        uint64
	sc        *smtp.Client
	raw       net.Conn // the TCP socket under sc (and under TLS, if any)
	idleSince time.Time
	sent      int
	dead      bool // the socket was shut because a caller gave up
}

// close ends the session. polite sends QUIT first (bounded, because a server
// that is misbehaving is often why we close); otherwise the socket is just
// shut, which is all a broken session deserves.
func (cn *conn) close(polite bool) {
	if polite {
		_ = cn.raw.SetDeadline(time.Now().Add(2 * time.Second))
		_ = cn.sc.Quit()
	}
	_ = cn.raw.Close()
}

// sockKey carries a *socket from dial to dialNet through go-mail, which
// dials with our function but hands back only the *smtp.Client.
type sockKey struct{}

// socket records the TCP connection go-mail dialled so it can be shut from
// outside when the caller gives up, which also unblocks EHLO, STARTTLS and
// AUTH (go-mail runs those without a context).
type socket struct {
	mu      sync.Mutex
	c       net.Conn
	aborted bool
}

func (s *socket) set(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aborted {
		return false
	}
	s.c = c
	return true
}

func (s *socket) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	if s.c != nil {
		_ = s.c.Close()
	}
}

func (s *socket) conn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// dialNet is go-mail's DialContextFunc. It does implicit TLS itself because
// go-mail only does that with its own dialer.
func (c *Channel) dialNet(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if s, ok := ctx.Value(sockKey{}).(*socket); ok && !s.set(raw) {
		_ = raw.Close()
		return nil, context.Canceled
	}
	if !c.smtps {
		return raw, nil
	}
	tc := tls.Client(raw, c.tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

// dial opens, greets, secures and authenticates a new session.
func (c *Channel) dial(ctx context.Context) (*conn, error) {
	s := &socket{}
	stop := context.AfterFunc(ctx, s.abort)
	sc, err := c.client.DialToSMTPClientWithContext(context.WithValue(ctx, sockKey{}, s))
	if !stop() {
		// ctx ended and the socket was shut, maybe just after a good dial.
		s.abort()
		return nil, fmt.Errorf("email: connecting: %w", ctx.Err())
	}
	if err != nil {
		// go-mail leaves the socket open when EHLO, STARTTLS or AUTH fail.
		s.abort()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("email: connecting: %w", ctx.Err())
		}
		return nil, dialError(err)
	}
	raw := s.conn()
	if raw == nil { // cannot happen: go-mail always dials through dialNet
		_ = sc.Close()
		return nil, dialError(errors.New("dialer was bypassed"))
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.log.Debug("smtp connection opened", "conn", id, "addr", c.addr)
	return &conn{id: id, sc: sc, raw: raw}, nil
}

// get returns an idle connection (reused=true) or dials one. fresh skips
// the idle ones.
func (c *Channel) get(ctx context.Context, fresh bool) (cn *conn, reused bool, err error) {
	var stale []*conn
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, &channels.Error{Channel: Name, Kind: channels.Retryable, Message: "channel closed", Err: ErrClosed}
	}
	for !fresh && len(c.idle) > 0 {
		last := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(last.idleSince) > maxIdle {
			stale = append(stale, last)
			continue
		}
		cn = last
		break
	}
	c.mu.Unlock()
	// No QUIT for these: the server has probably forgotten them already, and
	// a sender is waiting.
	for _, s := range stale {
		s.close(false)
	}
	if cn != nil {
		return cn, true, nil
	}
	cn, err = c.dial(ctx)
	return cn, false, err
}

// put keeps a healthy connection for the next message. It must run before
// the caller's slot is released, so that a sender taking that slot finds the
// connection instead of dialling another (which keeps connections <=
// PoolSize).
func (c *Channel) put(cn *conn) {
	if cn.dead {
		c.discard(cn)
		return
	}
	cn.idleSince = time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close(true)
		return
	}
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// discard hangs up without QUIT: the session is broken, closing, or was
// abandoned mid-command.
func (c *Channel) discard(cn *conn) {
	c.log.Debug("smtp connection dropped", "conn", cn.id, "messages", cn.sent)
	cn.close(false)
}

// dropIdle closes every idle connection: one was found dead, and whatever
// killed it (a server restart, an idle timeout) has most likely killed its
// siblings too.
func (c *Channel) dropIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, cn := range idle {
		cn.close(false)
	}
}
