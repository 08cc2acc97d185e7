package chathttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/chat/chathttp"
)

// token is the secret part of the webhook URLs the tests use.
const token = "XoXoSeCrEtT0kEn42"

func newClient(t *testing.T, cfg chathttp.Config) *chathttp.Client {
	t.Helper()
	c, err := chathttp.New("testchat", cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func channelError(t *testing.T, err error) *channels.Error {
	t.Helper()
	var ce *channels.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *channels.Error", err, err)
	}
	return ce
}

// noSecret fails when err, anything it wraps, or its %+v form shows the
// token.
func noSecret(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), token) {
			t.Errorf("error shows the webhook's token: %q", e.Error())
		}
	}
	if s := fmt.Sprintf("%+v %#v", err, err); strings.Contains(s, token) {
		t.Errorf("formatted error shows the webhook's token: %s", s)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := chathttp.New("", chathttp.Config{}); err == nil {
		t.Error("New without a name succeeded")
	}
	if _, err := chathttp.New("x", chathttp.Config{Timeout: -time.Second}); err == nil {
		t.Error("New with a negative timeout succeeded")
	}
	c := newClient(t, chathttp.Config{})
	if c.Timeout() != chathttp.DefaultTimeout || c.Name() != "testchat" {
		t.Errorf("Timeout %s Name %q", c.Timeout(), c.Name())
	}
}

func TestParseURL(t *testing.T) {
	for _, ok := range []string{
		"https://hooks.slack.com/services/T1/B1/" + token,
		"https://example.com:8443/x?sig=" + token,
		"http://127.0.0.1:8080/hook/" + token,
		"http://localhost/hook",
		"http://[::1]:9/hook",
		" https://example.com/trimmed ",
	} {
		if _, err := chathttp.ParseURL(ok); err != nil {
			t.Errorf("ParseURL(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"http://hooks.example.com/" + token,
		"http://10.0.0.1/" + token,
		"ftp://example.com/" + token,
		"/services/T/B/" + token,
		"hooks.slack.com/services/" + token,
		"https:///" + token,
		"https://exa mple.com/" + token,
		"%zz" + token,
	} {
		_, err := chathttp.ParseURL(bad)
		if !errors.Is(err, chathttp.ErrInvalidURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalidURL", bad, err)
			continue
		}
		noSecret(t, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T1/B1/" + token:     "https://hooks.slack.com",
		"https://user:" + token + "@example.com:8443/x?sig=1": "https://example.com:8443",
		"https://prod.logic.azure.com/wf?sig=" + token:        "https://prod.logic.azure.com",
		"not a url " + token:                                  "(not a URL)",
	} {
		if got := chathttp.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPostWire(t *testing.T) {
	type seen struct {
		method, path, query, ct, ua, extra string
		body                               []byte
	}
	got := make(chan seen, 1)
	s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.UserAgent(), r.Header.Get("X-Extra"), b}
		w.Header().Set("X-Answer", "yes")
		_, _ = io.WriteString(w, "ok")
	})
	c := newClient(t, chathttp.Config{})
	resp, err := c.Post(context.Background(), s.URL+"/hook/"+token+"?a=1", []byte(`{"text":"hi"}`), http.Header{"X-Extra": {"v"}})
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	r := <-got
	if r.method != http.MethodPost || r.path != "/hook/"+token || r.query != "a=1" || r.ct != "application/json" ||
		r.ua != "npsgate" || r.extra != "v" || string(r.body) != `{"text":"hi"}` {
		t.Errorf("request %+v", r)
	}
	if !resp.OK() || resp.Status != 200 || string(resp.Body) != "ok" || resp.Truncated || resp.Header.Get("X-Answer") != "yes" {
		t.Errorf("response %+v", resp)
	}
	if c.Failure(resp) != nil {
		t.Errorf("Failure(200) = %v", c.Failure(resp))
	}
}

func TestFailure(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		status     int
		body       string
		header     http.Header
		kind       channels.ErrorKind
		message    string
		sentinel   error
		retryAfter time.Duration
	}{
		{301, "", http.Header{"Location": {"https://elsewhere.example/new/" + token}}, channels.Permanent, "webhook redirected to https://elsewhere.example", chathttp.ErrRedirected, 0},
		{302, "moved", nil, channels.Permanent, "webhook redirected", chathttp.ErrRedirected, 0},
		{307, "", http.Header{"Location": {"/relative/" + token}}, channels.Permanent, "webhook redirected", chathttp.ErrRedirected, 0},
		{308, "", nil, channels.Permanent, "webhook redirected", chathttp.ErrRedirected, 0},
		{400, "invalid_payload", nil, channels.Permanent, "invalid_payload", nil, 0},
		{401, "", nil, channels.Permanent, "HTTP 401 Unauthorized", nil, 0},
		{403, "action_prohibited\n", nil, channels.Permanent, "action_prohibited", nil, 0},
		{404, "no_service", nil, channels.Permanent, "no_service", chathttp.ErrWebhookGone, 0},
		{408, "", nil, channels.Retryable, "HTTP 408 Request Timeout", nil, 0},
		{410, "channel_is_archived", nil, channels.Permanent, "channel_is_archived", chathttp.ErrWebhookGone, 0},
		{413, "<html><body>too large</body></html>", nil, channels.Permanent, "HTTP 413 Request Entity Too Large", nil, 0},
		{429, "rate_limited", nil, channels.RateLimited, "rate_limited", nil, time.Second},
		{429, "", http.Header{"Retry-After": {"7"}}, channels.RateLimited, "HTTP 429 Too Many Requests", nil, 7 * time.Second},
		{429, "", http.Header{"Retry-After": {"soon"}}, channels.RateLimited, "HTTP 429 Too Many Requests", nil, time.Second},
		{429, "", http.Header{"Retry-After": {"99999999"}}, channels.RateLimited, "HTTP 429 Too Many Requests", nil, 24 * time.Hour},
		{429, "", http.Header{"Retry-After": {date}}, channels.RateLimited, "HTTP 429 Too Many Requests", nil, -1},
		{500, "internal_error", nil, channels.Retryable, "internal_error", nil, 0},
		{502, "<html>Bad Gateway</html>", nil, channels.Retryable, "HTTP 502 Bad Gateway", nil, 0},
		{503, "", nil, channels.Retryable, "HTTP 503 Service Unavailable", nil, 0},
	} {
		t.Run(fmt.Sprint(tc.status, tc.body, tc.header), func(t *testing.T) {
			s := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, vs := range tc.header {
					w.Header()[k] = vs
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c := newClient(t, chathttp.Config{})
			resp, err := c.Post(context.Background(), s.URL+"/hook/"+token, []byte(`{}`), nil)
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d (a redirect was followed?)", resp.Status, tc.status)
			}
			ce := c.Failure(resp)
			if ce == nil {
				t.Fatal("Failure = nil")
			}
			if ce.Kind != tc.kind || ce.Message != tc.message || ce.Code != fmt.Sprint(tc.status) || ce.Channel != "testchat" {
				t.Errorf("got %s %q %q (channel %q), want %s %q %q", ce.Kind, ce.Code, ce.Message, ce.Channel, tc.kind, fmt.Sprint(tc.status), tc.message)
			}
			if tc.sentinel != nil && !errors.Is(ce, tc.sentinel) {
				t.Errorf("%v does not wrap %v", ce, tc.sentinel)
			}
			switch {
			case tc.retryAfter == -1:
				if ce.RetryAfter < 85*time.Second || ce.RetryAfter > 91*time.Second {
					t.Errorf("RetryAfter %s, want about 90s", ce.RetryAfter)
				}
			case ce.RetryAfter != tc.retryAfter:
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			noSecret(t, ce)
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new/"+token, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/new/", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	s := serve(t, mux.ServeHTTP)
	c := newClient(t, chathttp.Config{})
	resp, err := c.Post(context.Background(), s.URL+"/old/"+token, []byte(`{}`), nil)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if followed.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
	ce := c.Failure(resp)
	if ce == nil || ce.Kind != channels.Permanent || !errors.Is(ce, chathttp.ErrRedirected) {
		t.Fatalf("Failure = %v", ce)
	}
	noSecret(t, ce)
}

func TestBodyIsCapped(t *testing.T) {
	s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		chunk := strings.Repeat("x", 4096)
		for range 1 << 10 { // 4 MiB
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	c := newClient(t, chathttp.Config{})
	resp, err := c.Post(context.Background(), s.URL+"/hook", []byte(`{}`), nil)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if len(resp.Body) != chathttp.MaxResponseBody || !resp.Truncated {
		t.Errorf("body %d bytes, truncated %v; want %d, true", len(resp.Body), resp.Truncated, chathttp.MaxResponseBody)
	}
	if got := c.Failure(resp).Message; len(got) > 210 || !strings.HasSuffix(got, "…") {
		t.Errorf("message of %d bytes: %.50q", len(got), got)
	}
}

func TestText(t *testing.T) {
	for body, want := range map[string]string{
		"":                                   "",
		"  no_service \n":                    "no_service",
		"first line\nsecond line":            "first line",
		"<!DOCTYPE html><p>502</p>":          "",
		"bad \xff byte":                      "bad \uFFFD byte",
		"unknown hook /hook/" + token:        "unknown hook [redacted]",
		"token " + token + " revoked":        "token [redacted] revoked",
		strings.Repeat("é", 150):             strings.Repeat("é", 100) + "…",
		"sig=" + token + "&x=1 is not valid": "[redacted] is not valid",
	} {
		s := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, body)
		})
		c := newClient(t, chathttp.Config{})
		resp, err := c.Post(context.Background(), s.URL+"/hook/"+token+"?sig="+token+"&x=1", []byte(`{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Text(); got != want {
			t.Errorf("Text of %.40q = %q, want %q", body, got, want)
		}
	}
}

// hanging answers nothing until the test ends.
func hanging(t *testing.T) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); s.Close() })
	return s
}

func TestTimeoutIsRetryable(t *testing.T) {
	s := hanging(t)
	c := newClient(t, chathttp.Config{Timeout: 100 * time.Millisecond})
	begin := time.Now()
	_, err := c.Post(context.Background(), s.URL+"/hook/"+token, []byte(`{}`), nil)
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || ce.Message != "no answer from "+s.URL+" within 100ms" {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("%v looks like the caller's context ended", err)
	}
	noSecret(t, err)
}

func TestCancel(t *testing.T) {
	s := hanging(t)
	c := newClient(t, chathttp.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Post(ctx, s.URL+"/hook/"+token, []byte(`{}`), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	var ce *channels.Error
	if errors.As(err, &ce) {
		t.Errorf("cancellation is a *channels.Error: %v", ce)
	}
	noSecret(t, err)

	// Already cancelled: no request at all.
	_, err = c.Post(ctx, "https://example.invalid/"+token, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	c := newClient(t, chathttp.Config{})
	_, err = c.Post(context.Background(), "http://"+addr+"/hook/"+token+"?sig="+token, []byte(`{}`), nil)
	ce := channelError(t, err)
	if ce.Kind != channels.Retryable || !strings.HasPrefix(ce.Message, "posting to http://"+addr+": ") {
		t.Errorf("got %s %q", ce.Kind, ce.Message)
	}
	noSecret(t, err)
}

func TestInvalidURLIsPermanent(t *testing.T) {
	c := newClient(t, chathttp.Config{})
	_, err := c.Post(context.Background(), "http://hooks.example.com/hook/"+token, []byte(`{}`), nil)
	ce := channelError(t, err)
	if ce.Kind != channels.Permanent || !errors.Is(err, chathttp.ErrInvalidURL) || ce.Channel != "testchat" {
		t.Errorf("got %v", err)
	}
	noSecret(t, err)
}

// roundTripFunc lets a test stand in for the transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransport(t *testing.T) {
	var got string
	c := newClient(t, chathttp.Config{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.Host
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})})
	resp, err := c.Post(context.Background(), "https://hooks.slack.com/services/x", []byte(`{}`), nil)
	if err != nil || got != "hooks.slack.com" || string(resp.Body) != "ok" {
		t.Errorf("resp %v err %v host %q", resp, err, got)
	}
}
