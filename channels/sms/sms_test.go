package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/sms"
	"github.com/npsgate/npsgate/internal/twiliotest"
)

const (
	fromNumber   = "+15005550006"
	waFrom       = "+14155238886"
	serviceSID   = "MG00000000000000000000000000000001"
	contentSID   = "HX00000000000000000000000000000001"
	statusURL    = "https://nps.example.com/v1/inbound/twilio/status"
	waitForSends = 5 * time.Second
)

func config(s *twiliotest.Server) sms.Config {
	return sms.Config{
		AccountSID:     s.AccountSID(),
		AuthToken:      s.AuthToken(),
		From:           fromNumber,
		WhatsAppFrom:   waFrom,
		APIURL:         s.URL(),
		StatusCallback: statusURL,
	}
}

func newSMS(t testing.TB, cfg sms.Config) *sms.Channel {
	t.Helper()
	ch, err := sms.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func newWhatsApp(t testing.TB, cfg sms.Config) *sms.Channel {
	t.Helper()
	ch, err := sms.NewWhatsApp(cfg)
	if err != nil {
		t.Fatalf("NewWhatsApp: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func message(i int) *channels.Message {
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         fmt.Sprintf("+1415555%04d", i),
		Locale:     "en",
		Subject:    "ignored by SMS",
		Text:       fmt.Sprintf("How likely are you to recommend us (0-10)? Reply with a number or answer here: https://nps.example.com/r/tok%d", i),
		ReplyURL:   fmt.Sprintf("https://nps.example.com/r/tok%d", i),
	}
}

func channelError(t *testing.T, err error) *channels.Error {
	t.Helper()
	var pe *channels.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *channels.Error", err, err)
	}
	return pe
}

func only(t *testing.T, s *twiliotest.Server) twiliotest.Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// twilioProvider drives twiliotest for the shared suite.
type twilioProvider struct {
	srv *twiliotest.Server
	// prefix is stripped from To so the suite compares the bare number.
	prefix string
}

func (p *twilioProvider) Set(m channeltest.Mode) bool {
	switch m {
	case channeltest.Accept:
		p.srv.SetFault(nil)
	case channeltest.FailTemporary:
		p.srv.SetFault(&twiliotest.Unavailable)
	case channeltest.FailPermanent:
		p.srv.SetFault(&twiliotest.InvalidTo)
	case channeltest.Hang:
		p.srv.SetFault(&twiliotest.Hang)
	default:
		return false
	}
	return true
}

func (p *twilioProvider) Received() []channeltest.Received {
	var out []channeltest.Received
	for _, r := range p.srv.Accepted() {
		out = append(out, channeltest.Received{To: strings.TrimPrefix(r.To, p.prefix), Body: r.Body})
	}
	return out
}

func TestSuite(t *testing.T) {
	channeltest.Exercise(t, channeltest.Harness{
		Message: message,
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			p := &twilioProvider{srv: twiliotest.Start(t)}
			return newSMS(t, config(p.srv)), p
		},
	})
}

func TestSuiteWhatsApp(t *testing.T) {
	channeltest.Exercise(t, channeltest.Harness{
		Message: message,
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			p := &twilioProvider{srv: twiliotest.Start(t), prefix: "whatsapp:"}
			return newWhatsApp(t, config(p.srv)), p
		},
	})
}

func TestSendWire(t *testing.T) {
	s := twiliotest.Start(t)
	ch := newSMS(t, config(s))
	if ch.Name() != "sms" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(1)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if !r.Authorized || r.User != s.AccountSID() || r.AccountSID != s.AccountSID() {
		t.Errorf("auth: user %q authorized %v path account %q", r.User, r.Authorized, r.AccountSID)
	}
	want := url.Values{
		"To":             {m.To},
		"From":           {fromNumber},
		"Body":           {m.Text},
		"StatusCallback": {statusURL + "?d=" + url.QueryEscape(m.DeliveryID)},
	}
	if fmt.Sprint(r.Form) != fmt.Sprint(want) {
		t.Errorf("form\n got %v\nwant %v", r.Form, want)
	}
	if res.ProviderID != r.SID || !strings.HasPrefix(res.ProviderID, "SM") || len(res.ProviderID) != 34 {
		t.Errorf("ProviderID %q, server SID %q", res.ProviderID, r.SID)
	}
	if !strings.Contains(r.UserAgent, "twilio-go/") || !strings.Contains(r.UserAgent, "npsgate") {
		t.Errorf("User-Agent %q", r.UserAgent)
	}
}

func TestSendMessagingService(t *testing.T) {
	s := twiliotest.Start(t)
	cfg := config(s)
	cfg.MessagingServiceSID = serviceSID
	cfg.StatusCallback = ""
	ch := newSMS(t, cfg)
	if _, err := ch.Send(context.Background(), message(2)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if r.MessagingServiceSID != serviceSID || r.Form.Has("From") || r.Form.Has("StatusCallback") {
		t.Errorf("form %v: want MessagingServiceSid instead of From, no StatusCallback", r.Form)
	}
}

func TestWhatsAppFreeForm(t *testing.T) {
	s := twiliotest.Start(t)
	cfg := config(s)
	cfg.MessagingServiceSID = serviceSID // for SMS; WhatsApp has its own sender
	ch := newWhatsApp(t, cfg)
	if ch.Name() != "whatsapp" {
		t.Errorf("Name %q", ch.Name())
	}
	m := message(3)
	if _, err := ch.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if r.To != "whatsapp:"+m.To || r.From != "whatsapp:"+waFrom || r.Body != m.Text || r.MessagingServiceSID != "" {
		t.Errorf("form %v", r.Form)
	}
	if r.ContentSID != "" || r.ContentVariables != "" {
		t.Errorf("free-form message carries a template: %v", r.Form)
	}

	// A number already prefixed is not prefixed twice.
	m2 := message(4)
	m2.To = "whatsapp:" + m2.To
	if _, err := ch.Send(context.Background(), m2); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := s.Requests()[1].To; got != m2.To {
		t.Errorf("To %q", got)
	}
}

func TestWhatsAppTemplate(t *testing.T) {
	s := twiliotest.Start(t)
	cfg := config(s)
	cfg.WhatsAppFrom = "whatsapp:" + waFrom // accepted with the prefix too
	cfg.WhatsAppContentSID = contentSID
	ch := newWhatsApp(t, cfg)
	m := message(5)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if r.To != "whatsapp:"+m.To || r.From != "whatsapp:"+waFrom || r.ContentSID != contentSID || r.StatusCallback != statusURL+"?d="+m.DeliveryID {
		t.Errorf("form %v", r.Form)
	}
	if r.Form.Has("Body") {
		t.Errorf("template message also carries a Body: %v", r.Form)
	}
	var vars map[string]string
	if err := json.Unmarshal([]byte(r.ContentVariables), &vars); err != nil {
		t.Fatalf("ContentVariables %q: %v", r.ContentVariables, err)
	}
	if len(vars) != 1 || vars["1"] != m.ReplyURL {
		t.Errorf("ContentVariables %v, want {1: %s}", vars, m.ReplyURL)
	}
	if res.ProviderID != r.SID {
		t.Errorf("ProviderID %q, SID %q", res.ProviderID, r.SID)
	}

	// Without a reply URL the template cannot be filled: refused before
	// any request.
	m.ReplyURL = ""
	_, err = ch.Send(context.Background(), m)
	if ce := channelError(t, err); ce.Kind != channels.Permanent || !errors.Is(err, sms.ErrInvalidMessage) {
		t.Errorf("no reply URL: %v", err)
	}
	if s.Count() != 1 {
		t.Errorf("%d requests, want 1", s.Count())
	}
}

func TestWhatsAppThroughMessagingService(t *testing.T) {
	s := twiliotest.Start(t)
	cfg := config(s)
	cfg.WhatsAppFrom = ""
	cfg.MessagingServiceSID = serviceSID
	ch := newWhatsApp(t, cfg)
	if _, err := ch.Send(context.Background(), message(6)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := only(t, s)
	if r.MessagingServiceSID != serviceSID || r.Form.Has("From") || !strings.HasPrefix(r.To, "whatsapp:+") {
		t.Errorf("form %v", r.Form)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fault       twiliotest.Fault
		kind        channels.ErrorKind
		code        string
		message     string
		destination bool // wraps ErrInvalidDestination
		retryAfter  time.Duration
	}{
		{"unsubscribed", twiliotest.Unsubscribed, channels.OptedOut, "21610", "Attempt to send to unsubscribed recipient", false, 0},
		{"invalid To", twiliotest.InvalidTo, channels.Permanent, "21211", "The 'To' number +14155550007 is not a valid phone number.", true, 0},
		{"not mobile", twiliotest.NotMobile, channels.Permanent, "21614", "'To' number is not a valid mobile number", true, 0},
		{"not on WhatsApp", twiliotest.Fault{Status: 400, Code: 63003, Message: "Channel could not find To address"}, channels.Permanent, "63003", "Channel could not find To address", true, 0},
		{"unreachable", twiliotest.Unreachable, channels.Permanent, "21612", "The 'To' phone number: +14155550007, is not currently reachable using the 'From' phone number: +15005550006 via SMS.", false, 0},
		{"region", twiliotest.RegionNotEnabled, channels.Permanent, "21408", "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +14155550007.", false, 0},
		{"other 4xx", twiliotest.Fault{Status: 400, Code: 21617, Message: "The concatenated message body exceeds the 1600 character limit."}, channels.Permanent, "21617", "The concatenated message body exceeds the 1600 character limit.", false, 0},
		{"404", twiliotest.Fault{Status: 404, Code: 20404, Message: "The requested resource was not found"}, channels.Permanent, "20404", "The requested resource was not found", false, 0},
		{"429 no header", twiliotest.RateLimited(""), channels.RateLimited, "20429", "Too Many Requests", false, time.Second},
		{"429 seconds", twiliotest.RateLimited("7"), channels.RateLimited, "20429", "Too Many Requests", false, 7 * time.Second},
		{"429 garbage", twiliotest.RateLimited("soon"), channels.RateLimited, "20429", "Too Many Requests", false, time.Second},
		{"429 without Twilio code", twiliotest.Fault{Status: 429, Code: 14107, Message: "Rate limit exceeded", RetryAfter: "3"}, channels.RateLimited, "14107", "Rate limit exceeded", false, 3 * time.Second},
		{"500", twiliotest.ServerError, channels.Retryable, "20500", "Internal Server Error", false, 0},
		{"503", twiliotest.Unavailable, channels.Retryable, "20503", "Service Unavailable", false, 0},
		{"502 HTML", twiliotest.BadGateway, channels.Retryable, "", "HTTP 502 Bad Gateway without a Twilio error", false, 0},
		{"404 HTML", twiliotest.Fault{Status: 404}, channels.Permanent, "", "HTTP 404 Not Found without a Twilio error", false, 0},
		{"429 HTML", twiliotest.Fault{Status: 429, RetryAfter: "2"}, channels.RateLimited, "", "HTTP 429 Too Many Requests without a Twilio error", false, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twiliotest.Start(t, twiliotest.FailNth(1, tc.fault))
			ch := newSMS(t, config(s))
			m := message(7)
			_, err := ch.Send(context.Background(), m)
			ce := channelError(t, err)
			if ce.Kind != tc.kind || ce.Code != tc.code || ce.Message != tc.message || ce.Channel != "sms" {
				t.Errorf("got %s %q %q (channel %q)\nwant %s %q %q", ce.Kind, ce.Code, ce.Message, ce.Channel, tc.kind, tc.code, tc.message)
			}
			if got := errors.Is(err, sms.ErrInvalidDestination); got != tc.destination {
				t.Errorf("errors.Is(ErrInvalidDestination) = %v", got)
			}
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if channels.KindOf(err) != tc.kind {
				t.Errorf("KindOf %s", channels.KindOf(err))
			}
			// The channel is fine afterwards.
			if _, err := ch.Send(context.Background(), m); err != nil {
				t.Errorf("next Send: %v", err)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	s := twiliotest.Start(t, twiliotest.FailNth(1, twiliotest.RateLimited(when)))
	_, err := newSMS(t, config(s)).Send(context.Background(), message(8))
	ce := channelError(t, err)
	if ce.Kind != channels.RateLimited || ce.RetryAfter < 85*time.Second || ce.RetryAfter > 91*time.Second {
		t.Errorf("%s RetryAfter %s, want about 90s", ce.Kind, ce.RetryAfter)
	}
}

func TestWrongCredentialsAreRetryable(t *testing.T) {
	s := twiliotest.Start(t)
	cfg := config(s)
	cfg.AuthToken = "wrongtoken"
	_, err := newSMS(t, cfg).Send(context.Background(), message(9))
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || ce.Code != "20003" || ce.Message != "Authenticate" {
		t.Errorf("got %s %q %q", ce.Kind, ce.Code, ce.Message)
	}
	if strings.Contains(err.Error(), "wrongtoken") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestCancelWhileTwilioHangs(t *testing.T) {
	s := twiliotest.Start(t, twiliotest.FailNth(1, twiliotest.Hang))
	ch := newSMS(t, config(s))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ch.Send(ctx, message(10))
		errc <- err
	}()
	if err := s.WaitFor(1, waitForSends); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	cancel()
	select {
	case err := <-errc:
		if took := time.Since(begin); took > time.Second {
			t.Errorf("Send returned %s after cancel", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v does not wrap context.Canceled", err)
		}
		if channels.KindOf(err) != channels.Retryable {
			t.Errorf("KindOf %s", channels.KindOf(err))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after cancel")
	}
	if _, err := ch.Send(context.Background(), message(11)); err != nil {
		t.Errorf("Send after cancel: %v", err)
	}
}

func TestDeadlineWhileTwilioHangs(t *testing.T) {
	s := twiliotest.Start(t, twiliotest.FailNth(1, twiliotest.Hang))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := newSMS(t, config(s)).Send(ctx, message(12))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v does not wrap context.DeadlineExceeded", err)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := twiliotest.Start(t, twiliotest.FailNth(1, twiliotest.Hang))
	cfg := config(s)
	cfg.Timeout = 150 * time.Millisecond
	ch := newSMS(t, cfg)
	begin := time.Now()
	_, err := ch.Send(context.Background(), message(13))
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s with a 150ms timeout", took)
	}
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || !strings.Contains(ce.Message, "no answer from Twilio within 150ms") {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
	if errors.Is(err, context.Canceled) {
		t.Error("our own timeout reported as the caller's cancellation")
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	ch := newSMS(t, sms.Config{AccountSID: twiliotest.DefaultAccountSID, AuthToken: twiliotest.DefaultAuthToken,
		From: fromNumber, APIURL: "http://" + addr})
	_, err = ch.Send(context.Background(), message(14))
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || !strings.HasPrefix(ce.Message, "request failed: ") {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
}

// Every answer, refusals included, leaves the connection reusable.
// twilio-go never closes an error response's body; Go's transport only
// takes the connection back by itself if the body was read to the end,
// which json.Decoder does not do for a proxy's error page longer than its
// first read.
func TestConnectionsAreReused(t *testing.T) {
	errorPage := twiliotest.Fault{Status: 502,
		Body: "<html><head><title>502 Bad Gateway</title></head><body>" + strings.Repeat("<!-- padding -->", 256) + "</body></html>"}
	var n atomic.Int32
	s := twiliotest.Start(t, twiliotest.WithReply(func(r twiliotest.Request) *twiliotest.Fault {
		switch n.Add(1) % 5 {
		case 1:
			return &twiliotest.InvalidTo
		case 2:
			return &twiliotest.Unavailable
		case 3:
			return &twiliotest.BadGateway
		case 4:
			return &errorPage
		}
		return nil
	}))
	ch := newSMS(t, config(s))
	for i := range 20 {
		_, _ = ch.Send(context.Background(), message(i))
	}
	if s.Count() != 20 {
		t.Fatalf("%d requests", s.Count())
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("20 sequential sends used %d connections, want 1", got)
	}
}

// APIURL may carry a path, as when the API sits behind a proxy.
func TestAPIURLWithPath(t *testing.T) {
	s := twiliotest.Start(t)
	target, _ := url.Parse(s.URL())
	proxy := httptest.NewServer(http.StripPrefix("/twilio", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	cfg := config(s)
	cfg.APIURL = proxy.URL + "/twilio/"
	if _, err := newSMS(t, cfg).Send(context.Background(), message(15)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := only(t, s); !r.Accepted() {
		t.Errorf("request %+v", r)
	}
}

func TestInvalidMessages(t *testing.T) {
	s := twiliotest.Start(t)
	ch := newSMS(t, config(s))
	for name, m := range map[string]*channels.Message{
		"nil":     nil,
		"no To":   {Text: "x"},
		"no text": {To: "+14155550100", Text: "  "},
	} {
		_, err := ch.Send(context.Background(), m)
		ce := channelError(t, err)
		if ce.Kind != channels.Permanent || !errors.Is(err, sms.ErrInvalidMessage) || ce.Message == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if s.Count() != 0 {
		t.Errorf("%d requests for invalid messages", s.Count())
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := sms.Config{AccountSID: twiliotest.DefaultAccountSID, AuthToken: twiliotest.DefaultAuthToken, From: fromNumber, WhatsAppFrom: waFrom}
	for _, tc := range []struct {
		name     string
		mutate   func(*sms.Config)
		whatsapp bool
		want     string
	}{
		{"no sid", func(c *sms.Config) { c.AccountSID = "" }, false, "AccountSID: required"},
		{"sid chars", func(c *sms.Config) { c.AccountSID = "AC-1" }, false, "AccountSID: letters and digits only"},
		{"token chars", func(c *sms.Config) { c.AuthToken = "s3cr3t!" }, false, "AuthToken: letters and digits only"},
		{"no sender", func(c *sms.Config) { c.From = "" }, false, "From or MessagingServiceSID: required"},
		{"no wa sender", func(c *sms.Config) { c.WhatsAppFrom = "" }, true, "WhatsAppFrom or MessagingServiceSID: required"},
		{"negative timeout", func(c *sms.Config) { c.Timeout = -1 }, false, "Timeout"},
		{"api scheme", func(c *sms.Config) { c.APIURL = "ftp://api.example.com" }, false, "APIURL"},
		{"api clear", func(c *sms.Config) { c.APIURL = "http://api.example.com" }, false, "in clear"},
		{"api userinfo", func(c *sms.Config) { c.APIURL = "https://u:p@api.example.com" }, false, "no credentials"},
		{"callback", func(c *sms.Config) { c.StatusCallback = "/relative" }, false, "StatusCallback"},
	} {
		cfg := good
		tc.mutate(&cfg)
		var err error
		if tc.whatsapp {
			_, err = sms.NewWhatsApp(cfg)
		} else {
			_, err = sms.New(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error shows the token: %v", tc.name, err)
		}
	}
	for _, u := range []string{"", sms.DefaultAPIURL, sms.DefaultAPIURL + "/", "https://api.example.com/twilio", "http://localhost:8080"} {
		cfg := good
		cfg.APIURL = u
		if _, err := sms.New(cfg); err != nil {
			t.Errorf("APIURL %q: %v", u, err)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	s, err := twiliotest.New()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ch := newSMS(b, config(s))
	m := message(1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ch.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
