package smtptest_test

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/npsgate/npsgate/internal/smtptest"
)

// The server is checked with the standard library's client, so that a bug
// in it cannot hide behind the same bug in the channel it tests.

const multipartMsg = "From: NPS <nps@example.com>\r\n" +
	"To: a@example.com\r\n" +
	"Subject: =?UTF-8?b?5oKo5a+55oiR5Lus5ruh5oSP5ZCX77yf?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=BB\r\n" +
	"\r\n" +
	"--BB\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Tr=C3=A8s bien, a long line that is soft=\r\n" +
	" broken\r\n" +
	"--BB\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+6LCi6LCiPC9wPg==\r\n" +
	"--BB--\r\n"

func send(t *testing.T, addr string, a smtp.Auth, to, msg string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if a != nil {
		if err := c.Auth(a); err != nil {
			return err
		}
	}
	if err := c.Mail("nps@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestRecordsAndParses(t *testing.T) {
	s := smtptest.Start(t)
	if err := send(t, s.Addr(), nil, "a@example.com", multipartMsg); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitFor(1, time.Second); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "nps@example.com" || len(m.To) != 1 || m.To[0] != "a@example.com" || m.ConnID != 1 {
		t.Errorf("envelope %q %q conn %d", m.From, m.To, m.ConnID)
	}
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject() != "您对我们满意吗？" {
		t.Errorf("subject %q", p.Subject())
	}
	if p.ContentType != "multipart/alternative" || len(p.Parts) != 2 {
		t.Fatalf("content type %s with %d parts", p.ContentType, len(p.Parts))
	}
	if p.Text() != "Très bien, a long line that is soft broken" {
		t.Errorf("text %q", p.Text())
	}
	if p.HTML() != "<p>谢谢</p>" {
		t.Errorf("html %q", p.HTML())
	}
	if s.Connections() != 1 || s.Count() != 1 {
		t.Errorf("connections %d count %d", s.Connections(), s.Count())
	}
}

func TestAuthRequired(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithAuth("u", "p"))
	if err := send(t, s.Addr(), nil, "a@example.com", multipartMsg); code(err) != 502 {
		t.Errorf("without auth: %v, want 502", err)
	}
	if err := send(t, s.Addr(), smtp.PlainAuth("", "u", "bad", "127.0.0.1"), "a@example.com", multipartMsg); code(err) != 535 {
		t.Errorf("bad password: %v, want 535", err)
	}
	if err := send(t, s.Addr(), smtp.PlainAuth("", "u", "p", "127.0.0.1"), "a@example.com", multipartMsg); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; m.User != "u" || m.Mech != "PLAIN" {
		t.Errorf("user %q mech %q", m.User, m.Mech)
	}
}

func TestReplyAtRcptAndData(t *testing.T) {
	rcpt := smtptest.Start(t, smtptest.WithReply(smtptest.AtRcpt, func(to string, n int) *gosmtp.SMTPError {
		if n == 1 {
			return &gosmtp.SMTPError{Code: 451, Message: "try later"}
		}
		return nil
	}))
	if err := send(t, rcpt.Addr(), nil, "a@example.com", multipartMsg); code(err) != 451 {
		t.Errorf("first: %v, want 451", err)
	}
	if err := send(t, rcpt.Addr(), nil, "a@example.com", multipartMsg); err != nil {
		t.Errorf("second: %v", err)
	}

	data := smtptest.Start(t, smtptest.WithReply(smtptest.AtData, func(to string, n int) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: 554, Message: "spam " + to}
	}))
	err := send(t, data.Addr(), nil, "a@example.com", multipartMsg)
	if code(err) != 554 || !strings.Contains(err.Error(), "spam a@example.com") {
		t.Errorf("data: %v", err)
	}
	if data.Count() != 0 {
		t.Error("a refused message was counted")
	}
}

func Test421ClosesConnection(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithReply(smtptest.AtRcpt, func(string, int) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: 421, Message: "closing"}
	}))
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Mail("x@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); code(err) != 421 {
		t.Fatalf("rcpt: %v", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("connection still answers after 421")
	}
}

func TestDropAfterData(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithDropAfterData(func(n int) bool { return n == 1 }))
	err := send(t, s.Addr(), nil, "a@example.com", multipartMsg)
	if err == nil || code(err) != 0 {
		t.Errorf("dropped send: %v, want a connection error", err)
	}
	if err := send(t, s.Addr(), nil, "a@example.com", multipartMsg); err != nil {
		t.Fatal(err)
	}
	if s.Dropped() != 1 || s.Count() != 1 || s.Connections() != 2 {
		t.Errorf("dropped %d count %d connections %d", s.Dropped(), s.Count(), s.Connections())
	}
}

func TestHangReleasedOnClose(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithHang(func(string, int) bool { return true }))
	done := make(chan error, 1)
	go func() { done <- send(t, s.Addr(), nil, "a@example.com", multipartMsg) }()
	select {
	case err := <-done:
		t.Fatalf("send returned %v while the server hangs", err)
	case <-time.After(200 * time.Millisecond):
	}
	_ = s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hung command not released by Close")
	}
}

func TestDiscardCounts(t *testing.T) {
	s, err := smtptest.New(smtptest.Options{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for range 3 {
		if err := send(t, s.Addr(), nil, "a@example.com", multipartMsg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitFor(3, time.Second); err != nil {
		t.Fatal(err)
	}
	if len(s.Messages()) != 0 {
		t.Error("Discard kept messages")
	}
	if err := s.WaitFor(4, 50*time.Millisecond); err == nil {
		t.Error("WaitFor(4) succeeded with 3 messages")
	}
}

func TestDropConnections(t *testing.T) {
	s := smtptest.Start(t)
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if s.Open() != 1 {
		t.Fatalf("open %d", s.Open())
	}
	s.DropConnections()
	if err := c.Noop(); err == nil {
		t.Error("connection survived DropConnections")
	}
}

func TestStartTLS(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTLS(smtptest.StartTLS), smtptest.WithAuth("u", "p"))
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { //nolint:gosec // self-signed test certificate
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	_, _ = w.Write([]byte(multipartMsg))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; !m.TLS || m.User != "u" {
		t.Errorf("TLS %v user %q", m.TLS, m.User)
	}
	if !strings.HasPrefix(s.URL("u", "p w"), "smtp://u:p%20w@127.0.0.1:") {
		t.Errorf("URL %s", s.URL("u", "p w"))
	}
}

func TestImplicitTLS(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithTLS(smtptest.ImplicitTLS))
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test certificate
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Mail("x@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	_, _ = w.Write([]byte(multipartMsg))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; !m.TLS || m.ConnID != 1 {
		t.Errorf("TLS %v conn %d", m.TLS, m.ConnID)
	}
	if !strings.HasPrefix(s.URL("", ""), "smtps://127.0.0.1:") {
		t.Errorf("URL %s", s.URL("", ""))
	}
}
