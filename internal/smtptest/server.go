// Package smtptest runs a real SMTP server (emersion/go-smtp) on a loopback
// port so that mail code can be tested over the wire: what the client sent,
// on how many connections, with which authentication, and how it copes when
// the server answers 4xx/5xx, stalls or hangs up.
package smtptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage is the SMTP command at which Reply and Hang act.
type Stage int

const (
	// AtRcpt acts on RCPT TO, before any message data is sent: the message
	// certainly did not arrive.
	AtRcpt Stage = iota
	// AtData acts on the reply to the end of DATA, after the server has read
	// the whole message.
	AtData
)

// TLSMode says how the server offers TLS.
type TLSMode int

const (
	// NoTLS serves plain SMTP without STARTTLS.
	NoTLS TLSMode = iota
	// StartTLS advertises STARTTLS with a self-signed certificate.
	StartTLS
	// ImplicitTLS speaks TLS from the first byte (smtps, port 465 style).
	ImplicitTLS
)

// Options configures a Server. The zero value accepts every message.
type Options struct {
	// Username and Password, when Username is set, make AUTH PLAIN mandatory
	// before MAIL FROM.
	Username string
	Password string

	// Reply, when it returns non-nil, answers the command at ReplyAt with
	// that error instead of accepting. n is the 1-based number of the mail
	// transaction (counted at MAIL FROM, over all connections), so a test can
	// fail the first attempt and accept the retry. rcpt is the recipient (the
	// first one at AtData). A 421 reply also closes the connection, as real
	// servers do.
	Reply   func(rcpt string, n int) *smtp.SMTPError
	ReplyAt Stage

	// Hang, when it returns true, stalls the command at ReplyAt until the
	// server is closed: a provider that stopped answering.
	Hang func(rcpt string, n int) bool

	// DropAfterData, when it returns true, reads the whole message and then
	// closes the connection without replying: the client cannot know whether
	// the message was taken. Such messages are counted by Dropped, not kept.
	DropAfterData func(n int) bool

	// Discard only counts accepted messages instead of keeping them, so a
	// benchmark does not measure the test server's memory.
	Discard bool

	// TLS selects plain, STARTTLS or implicit TLS (self-signed certificate;
	// clients must skip verification).
	TLS TLSMode
}

// Option changes Options; see Start.
type Option func(*Options)

// WithAuth requires AUTH PLAIN with this user and password.
func WithAuth(user, pass string) Option {
	return func(o *Options) { o.Username, o.Password = user, pass }
}

// WithReply answers at stage with fn's error when it is non-nil.
func WithReply(at Stage, fn func(rcpt string, n int) *smtp.SMTPError) Option {
	return func(o *Options) { o.ReplyAt, o.Reply = at, fn }
}

// WithHang stalls at the Reply stage when fn returns true.
func WithHang(fn func(rcpt string, n int) bool) Option {
	return func(o *Options) { o.Hang = fn }
}

// WithDropAfterData hangs up after reading transaction n's data when fn
// returns true.
func WithDropAfterData(fn func(n int) bool) Option {
	return func(o *Options) { o.DropAfterData = fn }
}

// WithDiscard only counts messages.
func WithDiscard() Option { return func(o *Options) { o.Discard = true } }

// WithTLS selects how TLS is offered.
func WithTLS(mode TLSMode) Option { return func(o *Options) { o.TLS = mode } }

// Message is one message the server accepted.
type Message struct {
	// ConnID is the 1-based number of the connection that carried it.
	ConnID int
	// User is who authenticated on that connection ("" without AUTH) and
	// Mech the SASL mechanism used.
	User string
	Mech string
	// TLS says whether the connection was encrypted when the message came.
	TLS  bool
	From string
	To   []string
	Data []byte
}

// Parse splits the message into headers and decoded MIME parts.
func (m Message) Parse() (*Parsed, error) { return Parse(m.Data) }

// Server is a running test SMTP server.
type Server struct {
	opts Options
	srv  *smtp.Server
	ln   net.Listener
	addr string
	done chan struct{}

	conns   atomic.Int64
	txns    atomic.Int64
	count   atomic.Int64
	dropped atomic.Int64

	mu     sync.Mutex
	live   map[*trackedConn]struct{}
	msgs   []Message
	notify chan struct{} // closed and replaced whenever count changes

	closeOnce sync.Once
	serveErr  chan error
}

// Start runs a server on 127.0.0.1:0 for the length of the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o Options
	for _, fn := range opts {
		fn(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// New runs a server on 127.0.0.1:0 until Close; for benchmarks and tools
// that have no testing.TB.
func New(o Options) (*Server, error) {
	s := &Server{
		opts:     o,
		done:     make(chan struct{}),
		notify:   make(chan struct{}),
		serveErr: make(chan error, 1),
		live:     map[*trackedConn]struct{}{},
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.local"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// go-smtp logs every dropped connection; tests provoke those on purpose.
	srv.ErrorLog = log.New(io.Discard, "", 0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var l net.Listener = &countingListener{Listener: ln, s: s}
	if o.TLS != NoTLS {
		cert, err := selfSigned()
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("certificate: %w", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.TLS == StartTLS {
			srv.TLSConfig = cfg
		} else {
			l = tls.NewListener(l, cfg)
		}
	}
	s.srv, s.ln, s.addr = srv, l, ln.Addr().String()
	go func() { s.serveErr <- srv.Serve(l) }()
	return s, nil
}

// Addr is host:port of the listener.
func (s *Server) Addr() string { return s.addr }

// URL is an smtp:// (or smtps:// for ImplicitTLS) URL for the server with
// the given credentials (none when user is "").
func (s *Server) URL(user, pass string) string {
	scheme := "smtp"
	if s.opts.TLS == ImplicitTLS {
		scheme = "smtps"
	}
	cred := ""
	if user != "" {
		cred = urlUserinfo(user, pass) + "@"
	}
	return scheme + "://" + cred + s.addr
}

// Close stops the server, drops every connection and releases hung
// commands. It is safe to call twice.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.srv.Close()
		// Serve may not have registered the listener yet, so go-smtp's Close
		// may not have closed it.
		_ = s.ln.Close()
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, smtp.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}

// Connections is how many connections clients have opened so far.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Open is how many client connections are open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// DropConnections hangs up on every open connection without a word, as a
// server does when it restarts or times out idle sessions; clients find out
// on their next command.
func (s *Server) DropConnections() {
	s.mu.Lock()
	live := make([]*trackedConn, 0, len(s.live))
	for c := range s.live {
		live = append(live, c)
	}
	s.mu.Unlock()
	for _, c := range live {
		_ = c.Close()
	}
}

// Count is how many messages were accepted (also in Discard mode).
func (s *Server) Count() int { return int(s.count.Load()) }

// Dropped is how many messages were read and then left unanswered by
// DropAfterData.
func (s *Server) Dropped() int { return int(s.dropped.Load()) }

// Messages returns the accepted messages in arrival order (none in Discard
// mode).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until at least n messages were accepted.
func (s *Server) WaitFor(n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if got := s.Count(); got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smtptest: %d of %d messages after %s", s.Count(), n, timeout)
		}
	}
}

func (s *Server) accepted(m *Message) {
	s.mu.Lock()
	if m != nil {
		s.msgs = append(s.msgs, *m)
	}
	s.count.Add(1)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// hang blocks until the server closes; a hung provider never answers.
func (s *Server) hang() *smtp.SMTPError {
	<-s.done
	return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	id := l.s.conns.Add(1)
	tc := &trackedConn{Conn: c, id: int(id), s: l.s}
	l.s.mu.Lock()
	l.s.live[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

// trackedConn carries the connection number to the session and lets the
// session hang up right after its next reply (for 421).
type trackedConn struct {
	net.Conn
	id              int
	s               *Server
	closeAfterWrite atomic.Bool
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.live, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfterWrite.Load() {
		_ = c.Close()
	}
	return n, err
}

func tracked(c net.Conn) *trackedConn {
	for {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, c: c, tc: tracked(c.Conn())}, nil
}

type session struct {
	s  *Server
	c  *smtp.Conn
	tc *trackedConn

	user, mech string
	n          int
	from       string
	rcpts      []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user, ss.mech = user, sasl.Plain
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.n = int(ss.s.txns.Add(1))
	ss.from = from
	ss.rcpts = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opts.ReplyAt == AtRcpt {
		if err := ss.intervene(to); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	o := &ss.s.opts
	if o.Discard && o.ReplyAt != AtData && o.DropAfterData == nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		ss.s.accepted(nil)
		return nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if o.DropAfterData != nil && o.DropAfterData(ss.n) {
		ss.s.dropped.Add(1)
		ss.hangUp()
		return errors.New("dropped")
	}
	if o.ReplyAt == AtData {
		first := ""
		if len(ss.rcpts) > 0 {
			first = ss.rcpts[0]
		}
		if err := ss.intervene(first); err != nil {
			return err
		}
	}
	if o.Discard {
		ss.s.accepted(nil)
		return nil
	}
	_, isTLS := ss.c.TLSConnectionState()
	m := &Message{
		User: ss.user, Mech: ss.mech, TLS: isTLS,
		From: ss.from, To: append([]string(nil), ss.rcpts...), Data: data,
	}
	if ss.tc != nil {
		m.ConnID = ss.tc.id
	}
	ss.s.accepted(m)
	return nil
}

// intervene applies Hang and Reply; a nil result lets the command through.
func (ss *session) intervene(rcpt string) error {
	o := &ss.s.opts
	if o.Hang != nil && o.Hang(rcpt, ss.n) {
		return ss.s.hang()
	}
	if o.Reply == nil {
		return nil
	}
	e := o.Reply(rcpt, ss.n)
	if e == nil {
		return nil
	}
	if e.Code == 421 && ss.tc != nil {
		ss.tc.closeAfterWrite.Store(true)
	}
	return e
}

func (ss *session) hangUp() {
	if ss.tc != nil {
		_ = ss.tc.Close()
		return
	}
	_ = ss.c.Conn().Close()
}

func (ss *session) Reset() {
	ss.from, ss.rcpts = "", nil
}

func (ss *session) Logout() error { return nil }
