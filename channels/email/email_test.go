package email_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/email"
	"github.com/npsgate/npsgate/internal/smtptest"
)

func newChannel(t testing.TB, cfg email.Config) *email.Channel {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "NPS <nps@example.com>"
	}
	ch, err := email.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func message(i int) *channels.Message {
	m := channeltest.EmailMessage(i)
	m.UnsubscribeURL = fmt.Sprintf("https://nps.example.com/u/tok%d", i)
	m.UnsubscribeMailto = fmt.Sprintf("mailto:unsubscribe+tok%d@example.com", i)
	return m
}

func only(t *testing.T, s *smtptest.Server) (smtptest.Message, *smtptest.Parsed) {
	t.Helper()
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server has %d messages, want 1", len(msgs))
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, msgs[0].Data)
	}
	return msgs[0], p
}

func channelError(t *testing.T, err error) *channels.Error {
	t.Helper()
	var pe *channels.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *channels.Error", err, err)
	}
	return pe
}

func TestSuite(t *testing.T) {
	channeltest.Exercise(t, channeltest.Harness{
		Subject: true,
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			p := &smtpProvider{}
			p.srv = smtptest.Start(t,
				smtptest.WithReply(smtptest.AtRcpt, p.reply),
				smtptest.WithHang(func(string, int) bool { return channeltest.Mode(p.mode.Load()) == channeltest.Hang }))
			return newChannel(t, email.Config{URL: p.srv.URL("", ""), PoolSize: 4}), p
		},
	})
}

// smtpProvider drives smtptest for the shared suite.
type smtpProvider struct {
	srv  *smtptest.Server
	mode atomic.Int32
}

func (p *smtpProvider) Set(m channeltest.Mode) bool { p.mode.Store(int32(m)); return true }

func (p *smtpProvider) reply(string, int) *gosmtp.SMTPError {
	switch channeltest.Mode(p.mode.Load()) {
	case channeltest.FailTemporary:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "mailbox busy"}
	case channeltest.FailPermanent:
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}

func (p *smtpProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, m := range p.srv.Messages() {
		parsed, err := m.Parse()
		if err != nil {
			continue
		}
		out = append(out, channeltest.Received{
			To:      m.To[0],
			Subject: parsed.Subject(),
			Body:    parsed.Text() + "\n" + parsed.HTML(),
		})
	}
	return out
}

func TestHeadersAndParts(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})

	m := message(1)
	m.Subject = "您对我们的服务满意吗？"
	m.Text = "Bonjour Zoë — how likely are you to recommend us, 0 to 10? " +
		"This line is long enough that quoted-printable has to break it somewhere along the way.\n" +
		"Reply: https://nps.example.com/r/tok1?a=1&b=2"
	m.HTML = `<p style="font-family: sans-serif">您好 — <a href="https://nps.example.com/r/tok1?a=1&amp;b=2">answer</a></p>`
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	got, p := only(t, srv)

	if got.From != "nps@example.com" || len(got.To) != 1 || got.To[0] != "contact1@example.com" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	for i, b := range got.Data {
		if b > 0x7e || (b < ' ' && b != '\r' && b != '\n' && b != '\t') {
			t.Fatalf("raw byte %#x at %d: message is not 7-bit clean", b, i)
		}
	}
	from, err := mail.ParseAddress(p.Get("From"))
	if err != nil || from.Name != "NPS" || from.Address != "nps@example.com" {
		t.Errorf("From %q (%v)", p.Get("From"), err)
	}
	if to, err := mail.ParseAddress(p.Get("To")); err != nil || to.Address != m.To {
		t.Errorf("To %q (%v)", p.Get("To"), err)
	}
	if raw := p.Header.Get("Subject"); !strings.HasPrefix(strings.ToUpper(raw), "=?UTF-8?") {
		t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
	}
	if p.Subject() != m.Subject {
		t.Errorf("Subject %q, want %q", p.Subject(), m.Subject)
	}
	if want := "<dlv-0001@example.com>"; p.Get("Message-ID") != want || res.ProviderID != want {
		t.Errorf("Message-ID %q, ProviderID %q, want %q", p.Get("Message-ID"), res.ProviderID, want)
	}
	if got := p.Get(email.HeaderDelivery); got != "dlv-0001" {
		t.Errorf("%s %q", email.HeaderDelivery, got)
	}
	wantLU := "<mailto:unsubscribe+tok1@example.com>, <https://nps.example.com/u/tok1>"
	if got := p.Get("List-Unsubscribe"); got != wantLU {
		t.Errorf("List-Unsubscribe %q, want %q", got, wantLU)
	}
	if got := p.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", got)
	}
	if p.Get("Date") == "" || p.Get("MIME-Version") != "1.0" {
		t.Errorf("Date %q MIME-Version %q", p.Get("Date"), p.Get("MIME-Version"))
	}
	if ua := p.Get("User-Agent") + p.Get("X-Mailer"); ua != "" {
		t.Errorf("library fingerprint %q", ua)
	}

	if p.ContentType != "multipart/alternative" || len(p.Parts) != 2 {
		t.Fatalf("%s with %d parts", p.ContentType, len(p.Parts))
	}
	if p.Parts[0].ContentType != "text/plain" || p.Parts[1].ContentType != "text/html" {
		t.Errorf("parts %s, %s: text must come first, the last is the preferred", p.Parts[0].ContentType, p.Parts[1].ContentType)
	}
	for _, pt := range p.Parts {
		if cs := strings.ToLower(pt.Params["charset"]); cs != "utf-8" {
			t.Errorf("%s charset %q", pt.ContentType, cs)
		}
	}
	if norm(p.Text()) != m.Text {
		t.Errorf("text part\n%q\nwant\n%q", p.Text(), m.Text)
	}
	if norm(p.HTML()) != m.HTML {
		t.Errorf("html part\n%q\nwant\n%q", p.HTML(), m.HTML)
	}
}

// norm undoes the CRLF line endings SMTP requires.
func norm(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestUnsubscribeVariants(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})
	for i, tc := range []struct {
		url, mailto string
		lu          string
		post        bool
	}{
		{"", "", "", false},
		{"", "mailto:u@example.com", "<mailto:u@example.com>", false},
		// as the dispatcher builds it
		{"https://x.example/u/tok", "mailto:u@example.com?subject=unsubscribe%20tok",
			"<mailto:u@example.com?subject=unsubscribe%20tok>, <https://x.example/u/tok>", true},
		{"https://x.example/u", "", "<https://x.example/u>", true},
		{"http://x.example/u", "mailto:u@example.com", "<mailto:u@example.com>, <http://x.example/u>", false},
		{"https://x.example/u/" + strings.Repeat("a", 80), "mailto:u@example.com",
			"<mailto:u@example.com>, <https://x.example/u/" + strings.Repeat("a", 80) + ">", true},
	} {
		m := message(i)
		m.UnsubscribeURL, m.UnsubscribeMailto = tc.url, tc.mailto
		if _, err := ch.Send(context.Background(), m); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		raw := srv.Messages()[i]
		p, err := raw.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Get("List-Unsubscribe"); got != tc.lu {
			t.Errorf("%d: List-Unsubscribe %q, want %q", i, got, tc.lu)
		}
		if got := p.Get("List-Unsubscribe-Post") != ""; got != tc.post {
			t.Errorf("%d: List-Unsubscribe-Post present %v, want %v", i, got, tc.post)
		}
		for _, line := range strings.Split(string(raw.Data), "\r\n") {
			if len(line) > 998 {
				t.Errorf("%d: line of %d bytes", i, len(line))
			}
		}
	}
}

func TestRefusesBadMessages(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})
	for name, edit := range map[string]func(*channels.Message){
		"CRLF in subject":      func(m *channels.Message) { m.Subject = "Hi\r\nBcc: victim@example.com" },
		"LF in subject":        func(m *channels.Message) { m.Subject = "Hi\nX-Evil: 1" },
		"CRLF in To":           func(m *channels.Message) { m.To = "a@example.com\r\nBcc: b@example.com" },
		"CRLF in unsubscribe":  func(m *channels.Message) { m.UnsubscribeURL = "https://x.example/u\r\nX-Evil: 1" },
		"CR in delivery id":    func(m *channels.Message) { m.DeliveryID = "d\r1" },
		"bad address":          func(m *channels.Message) { m.To = "not an address" },
		"no body":              func(m *channels.Message) { m.Text, m.HTML = "", "" },
		"javascript unsub":     func(m *channels.Message) { m.UnsubscribeURL = "javascript:alert(1)" },
		"bracket in unsub":     func(m *channels.Message) { m.UnsubscribeURL = "https://x.example/u>, <https://evil.example" },
		"bad mailto":           func(m *channels.Message) { m.UnsubscribeMailto = "u@example.com" },
		"delivery id with '@'": func(m *channels.Message) { m.DeliveryID = "a@b" },
	} {
		t.Run(name, func(t *testing.T) {
			m := message(1)
			edit(m)
			_, err := ch.Send(context.Background(), m)
			if channels.KindOf(err) != channels.Permanent || !errors.Is(err, email.ErrInvalidMessage) {
				t.Fatalf("err = %v, want a Permanent ErrInvalidMessage", err)
			}
		})
	}
	if srv.Connections() != 0 {
		t.Errorf("refused messages opened %d connections", srv.Connections())
	}
}

func TestNoDeliveryIDStillGetsMessageID(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", ""), From: "nps@surveys.example.org"})
	m := message(1)
	m.DeliveryID = ""
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	_, p := only(t, srv)
	if !strings.HasSuffix(res.ProviderID, "@surveys.example.org>") || p.Get("Message-ID") != res.ProviderID {
		t.Errorf("ProviderID %q, Message-ID %q", res.ProviderID, p.Get("Message-ID"))
	}
	if p.Get(email.HeaderDelivery) != "" {
		t.Error("delivery header without a delivery")
	}
}

func TestAuthPlain(t *testing.T) {
	const user, pass = "nps@example.com", "p@ss/w:rd%"
	srv := smtptest.Start(t, smtptest.WithAuth(user, pass))
	ch := newChannel(t, email.Config{URL: srv.URL(user, pass)})
	if _, err := ch.Send(context.Background(), message(1)); err != nil {
		t.Fatal(err)
	}
	got, _ := only(t, srv)
	if got.User != user || got.Mech != "PLAIN" {
		t.Errorf("authenticated as %q with %q", got.User, got.Mech)
	}

	bad := newChannel(t, email.Config{URL: srv.URL(user, "wrong")})
	_, err := bad.Send(context.Background(), message(2))
	pe := channelError(t, err)
	if pe.Kind != channels.Retryable || pe.Code != "535" {
		t.Errorf("bad password: %v (kind %s code %q), want Retryable 535", err, pe.Kind, pe.Code)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Error("error shows the password")
	}
}

func TestConnectionReuse(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", ""), PoolSize: 2})

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ch.Send(context.Background(), message(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if srv.Count() != 20 {
		t.Errorf("server accepted %d of 20", srv.Count())
	}
	if c := srv.Connections(); c > 2 || c < 1 {
		t.Errorf("%d connections opened for 20 messages with PoolSize 2", c)
	}
	perConn := map[int]int{}
	for _, m := range srv.Messages() {
		perConn[m.ConnID]++
	}
	t.Logf("messages per connection: %v", perConn)

	for i := range 5 {
		if _, err := ch.Send(context.Background(), message(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if c := srv.Connections(); c > 2 {
		t.Errorf("sequential sends opened new connections: %d", c)
	}
}

func TestServerReplies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		at       smtptest.Stage
		reply    *gosmtp.SMTPError
		kind     channels.ErrorKind
		code     string
		words    string
		sameConn bool // the next message goes over the same connection
	}{
		{"451 at RCPT", smtptest.AtRcpt, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, come back later"},
			channels.Retryable, "451", "4.7.1 Greylisted, come back later", true},
		{"550 at RCPT", smtptest.AtRcpt, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "User unknown in virtual mailbox table"},
			channels.Permanent, "550", "5.1.1 User unknown in virtual mailbox table", true},
		{"452 at DATA", smtptest.AtData, &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"},
			channels.Retryable, "452", "4.3.1 Insufficient system storage", true},
		{"554 at DATA", smtptest.AtData, &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam"},
			channels.Permanent, "554", "5.7.1 Message rejected as spam", true},
		{"421 at RCPT", smtptest.AtRcpt, &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many messages, closing"},
			channels.Retryable, "421", "4.7.0 Too many messages, closing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.WithReply(tc.at, func(_ string, n int) *gosmtp.SMTPError {
				if n == 1 {
					return tc.reply
				}
				return nil
			}))
			ch := newChannel(t, email.Config{URL: srv.URL("", "")})
			_, err := ch.Send(context.Background(), message(1))
			pe := channelError(t, err)
			if pe.Kind != tc.kind || pe.Code != tc.code || pe.Message != tc.words || pe.Channel != "email" {
				t.Errorf("got %s %q %q, want %s %q %q", pe.Kind, pe.Code, pe.Message, tc.kind, tc.code, tc.words)
			}
			if _, err := ch.Send(context.Background(), message(2)); err != nil {
				t.Fatalf("next send: %v", err)
			}
			want := 2
			if tc.sameConn {
				want = 1
			}
			if srv.Connections() != want {
				t.Errorf("%d connections, want %d", srv.Connections(), want)
			}
		})
	}
}

func TestDropAfterData(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithDropAfterData(func(n int) bool { return n == 1 }))
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})
	_, err := ch.Send(context.Background(), message(1))
	if channels.KindOf(err) != channels.Retryable {
		t.Fatalf("dropped after DATA: %v, want Retryable", err)
	}
	channelError(t, err)
	if _, err := ch.Send(context.Background(), message(2)); err != nil {
		t.Fatalf("send after the drop: %v", err)
	}
	got, _ := only(t, srv)
	if srv.Connections() != 2 || got.ConnID != 2 {
		t.Errorf("connections %d, message on %d: want the retry on a fresh second connection", srv.Connections(), got.ConnID)
	}
}

func TestStaleIdleConnectionIsReplaced(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})
	if _, err := ch.Send(context.Background(), message(1)); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections() // the server restarted or timed the session out
	if _, err := ch.Send(context.Background(), message(2)); err != nil {
		t.Fatalf("send over a connection the server had dropped: %v", err)
	}
	if srv.Count() != 2 || srv.Connections() != 2 {
		t.Errorf("count %d connections %d", srv.Count(), srv.Connections())
	}
}

// silent accepts connections and never says a word: a relay that hangs
// before its greeting.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestCancelDuringDial(t *testing.T) {
	ch := newChannel(t, email.Config{URL: "smtp://" + silent(t)})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := ch.Send(ctx, message(1))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %s", took)
	}
}

func TestTimeout(t *testing.T) {
	ch := newChannel(t, email.Config{URL: "smtp://" + silent(t), Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := ch.Send(context.Background(), message(1))
	if channels.KindOf(err) != channels.Retryable || err == nil {
		t.Fatalf("err = %v, want Retryable", err)
	}
	channelError(t, err)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Timeout 200ms took %s", took)
	}
}

func TestDialFailureIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ch := newChannel(t, email.Config{URL: "smtp://" + addr})
	_, err = ch.Send(context.Background(), message(1))
	if pe := channelError(t, err); pe.Kind != channels.Retryable {
		t.Errorf("kind %s", pe.Kind)
	}
}

func TestStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithTLS(smtptest.StartTLS), smtptest.WithAuth("u", "p"))
	ch := newChannel(t, email.Config{URL: srv.URL("u", "p"), StartTLS: "mandatory", InsecureSkipVerify: true})
	if _, err := ch.Send(context.Background(), message(1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := only(t, srv); !got.TLS || got.User != "u" {
		t.Errorf("TLS %v user %q", got.TLS, got.User)
	}

	verifying := newChannel(t, email.Config{URL: srv.URL("u", "p"), StartTLS: "mandatory"})
	if _, err := verifying.Send(context.Background(), message(2)); channels.KindOf(err) != channels.Retryable || err == nil {
		t.Errorf("self-signed certificate accepted without InsecureSkipVerify: %v", err)
	}

	plain := smtptest.Start(t)
	mandatory := newChannel(t, email.Config{URL: plain.URL("", ""), StartTLS: "mandatory"})
	if _, err := mandatory.Send(context.Background(), message(3)); err == nil {
		t.Error("mandatory STARTTLS sent to a server without it")
	}
	if plain.Count() != 0 {
		t.Error("message went out in clear")
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithTLS(smtptest.ImplicitTLS), smtptest.WithAuth("u", "p"))
	ch := newChannel(t, email.Config{URL: srv.URL("u", "p"), InsecureSkipVerify: true})
	for i := range 3 {
		if _, err := ch.Send(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range srv.Messages() {
		if !m.TLS || m.User != "u" {
			t.Errorf("TLS %v user %q", m.TLS, m.User)
		}
	}
	if srv.Connections() != 1 {
		t.Errorf("%d connections", srv.Connections())
	}
}

func TestSendAfterClose(t *testing.T) {
	srv := smtptest.Start(t)
	ch := newChannel(t, email.Config{URL: srv.URL("", "")})
	if _, err := ch.Send(context.Background(), message(1)); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for srv.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Open() != 0 {
		t.Error("Close left a connection open")
	}
	_, err := ch.Send(context.Background(), message(2))
	if !errors.Is(err, email.ErrClosed) || channels.KindOf(err) != channels.Retryable {
		t.Errorf("send after Close: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg   email.Config
		field string
	}{
		{email.Config{URL: "http://mail.example.com", From: "a@example.com"}, "URL"},
		{email.Config{URL: "smtp://", From: "a@example.com"}, "URL"},
		{email.Config{URL: "smtp://mail.example.com?starttls=none", From: "a@example.com"}, "URL"},
		{email.Config{URL: "mail.example.com:587", From: "a@example.com"}, "URL"},
		{email.Config{URL: "smtp://mail.example.com:99999", From: "a@example.com"}, "URL"},
		{email.Config{URL: "smtp://u:secret@mail.example.com\x7f", From: "a@example.com"}, "URL"},
		{email.Config{URL: "smtp://mail.example.com"}, "From"},
		{email.Config{URL: "smtp://mail.example.com", From: "not an address"}, "From"},
		{email.Config{URL: "smtp://mail.example.com", From: "a@example.com\r\nBcc: x@example.com"}, "From"},
		{email.Config{URL: "smtp://mail.example.com", From: "a@example.com", StartTLS: "sometimes"}, "StartTLS"},
		{email.Config{URL: "smtp://u:p@mail.example.com", From: "a@example.com", StartTLS: "none"}, "StartTLS"},
		{email.Config{URL: "smtp://mail.example.com", From: "a@example.com", PoolSize: -1}, "PoolSize"},
		{email.Config{URL: "smtp://mail.example.com", From: "a@example.com", Timeout: -time.Second}, "Timeout"},
	} {
		_, err := email.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	for _, cfg := range []email.Config{
		{URL: "smtp://mail.example.com", From: "a@example.com"},
		{URL: "smtps://u:p@mail.example.com", From: "NPS <a@example.com>", StartTLS: "none"},
		{URL: "smtp://u:p@localhost:2525", From: "a@example.com", StartTLS: "none"},
		{URL: "smtp://u:p@[::1]:2525/", From: "a@example.com", StartTLS: "none"},
	} {
		if _, err := email.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	srv, err := smtptest.New(smtptest.Options{Discard: true})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	ch := newChannel(b, email.Config{URL: srv.URL("", ""), PoolSize: 4})
	m := message(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ch.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(srv.Connections()), "conns")
}
