// Package email is the SMTP channel: it renders a survey as a
// multipart/alternative message with go-mail and hands it to an SMTP relay
// over a small pool of kept-open connections.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/npsgate/npsgate/channels"
)

// Name is the channel name under which the email channel registers.
const Name = "email"

// Config configures the SMTP channel. Zero values get the documented
// defaults from New.
type Config struct {
	// URL is smtp://user:pass@host:port (STARTTLS per StartTLS; port 587 if
	// omitted) or smtps://user:pass@host:port (TLS from the first byte; port
	// 465 if omitted). User and password are URL-decoded, so a password with
	// "@" or "/" is written %40 or %2F. With credentials, AUTH PLAIN is used.
	URL string
	// From is the sender, "NPS <nps@example.com>" or a bare address. Its
	// domain also names our Message-IDs.
	From string
	// StartTLS is "mandatory" (refuse servers without STARTTLS),
	// "opportunistic" (use it when offered; the default) or "none". It does
	// not apply to smtps://, which is always encrypted.
	StartTLS string
	// InsecureSkipVerify accepts any server certificate. For tests and
	// staging relays only.
	InsecureSkipVerify bool
	// PoolSize is how many SMTP connections may be open at once; each is
	// reused for many messages. Default 4.
	PoolSize int
	// Timeout bounds the dial and each SMTP command. Default 30s.
	Timeout time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

const (
	defaultPoolSize = 4
	defaultTimeout  = 30 * time.Second
	// maxIdle is how long an unused connection is trusted. Servers drop idle
	// sessions after a few minutes (RFC 5321 asks for at least 5), often
	// without a word; past this age we redial rather than find out the slow
	// way on a half-open socket.
	maxIdle = time.Minute
)

// Channel sends email over SMTP. Safe for concurrent use.
type Channel struct {
	log    *slog.Logger
	client *gomail.Client // configuration and dialer; holds no connection itself
	from   *mail.Address
	domain string // from's domain, for Message-IDs
	addr   string
	tlsCfg *tls.Config
	smtps  bool

	timeout time.Duration
	slots   chan struct{} // one token per connection that may be open

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
	nextID uint64
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New checks cfg and builds the channel. It does no I/O: the first Send
// dials.
func New(cfg Config) (*Channel, error) {
	if cfg.PoolSize < 0 {
		return nil, errors.New("email: PoolSize: must not be negative")
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = defaultPoolSize
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("email: Timeout: must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		return nil, errors.New("email: URL: not a valid URL")
	}
	var smtps bool
	switch u.Scheme {
	case "smtp":
	case "smtps":
		smtps = true
	default:
		return nil, fmt.Errorf("email: URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Opaque != "" {
		// Options spelled into the URL would be ignored silently; they are
		// Config fields.
		return nil, errors.New("email: URL: unexpected path or query; set StartTLS, PoolSize... in the config instead")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("email: URL: no host")
	}
	port := 587
	if smtps {
		port = 465
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("email: URL: bad port %q", p)
		}
	}
	user := u.User.Username()
	pass, _ := u.User.Password()

	if cfg.From == "" {
		return nil, errors.New("email: From: required")
	}
	if strings.ContainsAny(cfg.From, "\r\n") {
		return nil, errors.New("email: From: contains a line break")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: From: %w", err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 1 || at == len(from.Address)-1 {
		return nil, fmt.Errorf("email: From: %q has no domain", from.Address)
	}

	policy := gomail.TLSOpportunistic
	switch strings.ToLower(cfg.StartTLS) {
	case "", "opportunistic":
	case "mandatory":
		policy = gomail.TLSMandatory
	case "none":
		policy = gomail.NoTLS
	default:
		return nil, fmt.Errorf("email: StartTLS: %q: want mandatory, opportunistic or none", cfg.StartTLS)
	}
	if user != "" && !smtps && policy == gomail.NoTLS && !isLoopback(host) {
		// go-mail refuses PLAIN over cleartext to a remote host at every
		// dial; better to say so once, here, than fail each delivery.
		return nil, errors.New("email: StartTLS: none would send the password in clear; use opportunistic or mandatory, or smtps://")
	}

	tlsCfg := &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, documented as tests/staging only
	}
	c := &Channel{
		log:     log.With("channel", Name),
		from:    from,
		domain:  from.Address[at+1:],
		addr:    net.JoinHostPort(host, strconv.Itoa(port)),
		tlsCfg:  tlsCfg,
		smtps:   smtps,
		timeout: cfg.Timeout,
		slots:   make(chan struct{}, cfg.PoolSize),
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(tlsCfg),
		// Our own dialer, so each connection's socket is known and can be
		// closed when the caller's context ends (go-mail's SMTP commands take
		// no context).
		gomail.WithDialContextFunc(c.dialNet),
	}
	if smtps {
		opts = append(opts, gomail.WithSSL())
	}
	if user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	c.client, err = gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("email: URL: %w", err)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name implements channels.Channel.
func (c *Channel) Name() string { return Name }

// Send delivers one message. It returns the Message-ID it gave the message
// as the ProviderID. Errors are *channels.Error, except when ctx ends: then
// ctx's error is returned (wrapped) as soon as the connection is torn down.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("email: %w", err)
	}
	out, err := c.compose(m)
	if err != nil {
		return channels.Result{}, err
	}

	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return channels.Result{}, fmt.Errorf("email: waiting for a connection: %w", ctx.Err())
	}
	defer func() { <-c.slots }()

	// A kept-open connection may have been dropped by the server while it
	// sat idle; that shows at MAIL FROM, before anything of the message was
	// sent, so one retry on a fresh connection cannot duplicate it.
	for fresh := false; ; fresh = true {
		cn, reused, err := c.get(ctx, fresh)
		if err != nil {
			return channels.Result{}, err
		}
		err = c.transact(ctx, cn, out)
		var se *sendError
		switch {
		case err == nil || (errors.As(err, &se) && se.keep):
			c.put(cn)
		default:
			c.discard(cn)
		}
		if err == nil {
			return channels.Result{ProviderID: out.messageID}, nil
		}
		if se == nil {
			return channels.Result{}, err // ctx ended
		}
		if reused && !fresh && se.stage == stageMail && !se.keep {
			c.log.Debug("kept connection was stale; redialling", "conn", cn.id, "err", se.err)
			c.dropIdle()
			continue
		}
		c.log.Debug("send failed", "delivery", m.DeliveryID, "stage", se.stage, "conn", cn.id, "err", se.err)
		return channels.Result{}, se.channelError()
	}
}

// Close closes the idle connections and makes further sends fail; sends in
// flight finish and close theirs.
func (c *Channel) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, cn := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); cn.close(true) }()
	}
	wg.Wait()
	return nil
}
