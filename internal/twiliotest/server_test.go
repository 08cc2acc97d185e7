package twiliotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/npsgate/npsgate/internal/twiliotest"
)

// post sends a create-message request as twilio-go does and returns the
// status, headers and body.
func post(t *testing.T, s *twiliotest.Server, user, pass string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	return postTo(t, s.URL()+"/2010-04-01/Accounts/"+user+"/Messages.json", user, pass, form)
}

func postTo(t *testing.T, u, user, pass string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func sms(to, body string) url.Values {
	return url.Values{"To": {to}, "From": {"+15005550006"}, "Body": {body}}
}

// twilioError decodes an error body into twilio-go's own type, so the
// server's errors are known to be what the client library expects.
func twilioError(t *testing.T, body []byte) client.TwilioRestError {
	t.Helper()
	var e client.TwilioRestError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e
}

var sidRE = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestAccept(t *testing.T) {
	s := twiliotest.Start(t)
	form := sms("+14155550100", "How likely are you to recommend us? 0-10")
	form.Set("StatusCallback", "https://nps.example.com/v1/inbound/twilio/status")
	status, hdr, body := post(t, s, s.AccountSID(), s.AuthToken(), form)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %s", status, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}

	var m openapi.ApiV2010Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode as twilio-go's Message: %v\n%s", err, body)
	}
	if m.Sid == nil || !sidRE.MatchString(*m.Sid) {
		t.Errorf("sid %v", m.Sid)
	}
	if m.Status == nil || *m.Status != "queued" {
		t.Errorf("status %v", m.Status)
	}
	if *m.To != "+14155550100" || *m.From != "+15005550006" || *m.Body != form.Get("Body") {
		t.Errorf("to/from/body = %v/%v/%v", *m.To, *m.From, *m.Body)
	}
	if *m.NumSegments != "1" || *m.Direction != "outbound-api" || *m.AccountSid != s.AccountSID() {
		t.Errorf("segments/direction/account = %v/%v/%v", *m.NumSegments, *m.Direction, *m.AccountSid)
	}
	if want := "/2010-04-01/Accounts/" + s.AccountSID() + "/Messages/" + *m.Sid + ".json"; *m.Uri != want {
		t.Errorf("uri %q, want %q", *m.Uri, want)
	}
	if _, err := time.Parse(time.RFC1123Z, *m.DateCreated); err != nil {
		t.Errorf("date_created %q: %v", *m.DateCreated, err)
	}
	// Nulls are sent as null, as Twilio does.
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	for _, k := range []string{"error_code", "error_message", "price", "date_sent", "messaging_service_sid"} {
		if v, ok := raw[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}

	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	if !r.Accepted() || r.SID != *m.Sid || r.N != 1 || r.User != s.AccountSID() || !r.Authorized {
		t.Errorf("recorded %+v", r)
	}
	if r.To != "+14155550100" || r.Body != form.Get("Body") || r.StatusCallback != form.Get("StatusCallback") {
		t.Errorf("recorded fields %+v", r)
	}
	if r.Form.Get("From") != "+15005550006" {
		t.Errorf("Form %v", r.Form)
	}
	// The copy is the caller's.
	reqs[0].Form.Set("To", "changed")
	if s.Requests()[0].To != "+14155550100" || s.Requests()[0].Form.Get("To") != "+14155550100" {
		t.Error("Requests returned shared state")
	}
}

func TestMessagingService(t *testing.T) {
	s := twiliotest.Start(t)
	form := url.Values{"To": {"+14155550100"}, "MessagingServiceSid": {"MG00000000000000000000000000000001"}, "Body": {"hi"}}
	status, _, body := post(t, s, s.AccountSID(), s.AuthToken(), form)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %s", status, body)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	if raw["status"] != "accepted" || raw["from"] != nil || raw["messaging_service_sid"] != form.Get("MessagingServiceSid") {
		t.Errorf("resource %s", body)
	}
}

func TestAuth(t *testing.T) {
	s := twiliotest.Start(t, twiliotest.WithCredentials("AC11111111111111111111111111111111", "secret0token"))
	for _, tc := range []struct{ name, user, pass string }{
		{"no auth", "", ""},
		{"wrong token", s.AccountSID(), "wrong"},
		{"wrong user", "AC22222222222222222222222222222222", "secret0token"},
	} {
		u := s.URL() + "/2010-04-01/Accounts/" + s.AccountSID() + "/Messages.json"
		status, hdr, body := postTo(t, u, tc.user, tc.pass, sms("+14155550100", "x"))
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d", tc.name, status)
		}
		want := `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`
		if string(body) != want {
			t.Errorf("%s: body %s\nwant %s", tc.name, body, want)
		}
		if hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
	}
	// Someone else's account in the path, with valid credentials.
	u := s.URL() + "/2010-04-01/Accounts/AC22222222222222222222222222222222/Messages.json"
	if status, _, body := postTo(t, u, s.AccountSID(), s.AuthToken(), sms("+14155550100", "x")); status != http.StatusNotFound || twilioError(t, body).Code != 20404 {
		t.Errorf("other account: %d %s", status, body)
	}
	if status, _, body := post(t, s, s.AccountSID(), s.AuthToken(), sms("+14155550100", "x")); status != http.StatusCreated {
		t.Errorf("good credentials: %d %s", status, body)
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[0].Authorized || reqs[1].User != s.AccountSID() || !reqs[4].Authorized {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestValidation(t *testing.T) {
	s := twiliotest.Start(t)
	long := strings.Repeat("a", 1601)
	for _, tc := range []struct {
		name string
		form url.Values
		code int
	}{
		{"no To", url.Values{"From": {"+15005550006"}, "Body": {"x"}}, 21604},
		{"no From", url.Values{"To": {"+14155550100"}, "Body": {"x"}}, 21603},
		{"no Body", url.Values{"To": {"+14155550100"}, "From": {"+15005550006"}}, 21602},
		{"channel mismatch", url.Values{"To": {"whatsapp:+14155550100"}, "From": {"+15005550006"}, "Body": {"x"}}, 21910},
		{"too long", sms("+14155550100", long), 21617},
		{"bad ContentVariables", url.Values{"To": {"whatsapp:+14155550100"}, "From": {"whatsapp:+15005550006"}, "ContentSid": {"HX1"}, "ContentVariables": {"{1:"}}, 21656},
	} {
		status, _, body := post(t, s, s.AccountSID(), s.AuthToken(), tc.form)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d", tc.name, status)
			continue
		}
		e := twilioError(t, body)
		if e.Code != tc.code || e.Status != 400 || e.Message == "" || e.MoreInfo == "" {
			t.Errorf("%s: %+v, want code %d", tc.name, e, tc.code)
		}
	}
	// A WhatsApp template message needs no Body.
	form := url.Values{"To": {"whatsapp:+14155550100"}, "From": {"whatsapp:+15005550006"},
		"ContentSid": {"HX00000000000000000000000000000001"}, "ContentVariables": {`{"1":"https://nps.example.com/r/tok"}`}}
	if status, _, body := post(t, s, s.AccountSID(), s.AuthToken(), form); status != http.StatusCreated {
		t.Errorf("template: %d %s", status, body)
	}
}

func TestFaults(t *testing.T) {
	s := twiliotest.Start(t,
		twiliotest.FailTo("+15005550001", twiliotest.InvalidTo),
		twiliotest.FailTo("+15005550004", twiliotest.Unsubscribed),
		twiliotest.FailNth(3, twiliotest.RateLimited("7")),
		twiliotest.FailNth(4, twiliotest.BadGateway),
		twiliotest.FailNth(5, twiliotest.Unreachable),
	)
	check := func(to string, wantStatus, wantCode int, wantMsg string) http.Header {
		t.Helper()
		status, hdr, body := post(t, s, s.AccountSID(), s.AuthToken(), sms(to, "x"))
		if status != wantStatus {
			t.Fatalf("To %s: status %d, want %d (%s)", to, status, wantStatus, body)
		}
		if wantStatus == http.StatusCreated {
			return hdr
		}
		if wantCode == 0 {
			if json.Valid(body) {
				t.Errorf("To %s: body %s is JSON", to, body)
			}
			return hdr
		}
		e := twilioError(t, body)
		if e.Code != wantCode || e.Status != wantStatus || e.Message != wantMsg {
			t.Errorf("To %s: %+v, want %d %q", to, e, wantCode, wantMsg)
		}
		return hdr
	}
	check("+15005550001", 400, 21211, "The 'To' number +15005550001 is not a valid phone number.")
	check("+15005550004", 400, 21610, "Attempt to send to unsubscribed recipient")
	hdr := check("+14155550100", 429, 20429, "Too Many Requests")
	if hdr.Get("Retry-After") != "7" {
		t.Errorf("Retry-After %q", hdr.Get("Retry-After"))
	}
	check("+14155550100", 502, 0, "")
	check("+14155550102", 400, 21612, "The 'To' phone number: +14155550102, is not currently reachable using the 'From' phone number: +15005550006 via SMS.")
	check("+14155550100", 201, 0, "")

	s.SetFault(&twiliotest.Fault{Status: 503, Body: "upstream connect error", ContentType: "text/plain"})
	status, hdr, body := post(t, s, s.AccountSID(), s.AuthToken(), sms("+14155550100", "x"))
	if status != 503 || string(body) != "upstream connect error" || hdr.Get("Content-Type") != "text/plain" {
		t.Errorf("raw body fault: %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	s.SetFault(&twiliotest.ServerError)
	check("+14155550100", 500, 20500, "Internal Server Error")
	s.SetFault(nil)
	check("+14155550100", 201, 0, "")

	var codes []int
	for _, r := range s.Requests() {
		codes = append(codes, r.Code)
	}
	want := []int{21211, 21610, 20429, 0, 21612, 0, 0, 20500, 0}
	if len(codes) != len(want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Errorf("codes %v, want %v", codes, want)
			break
		}
	}
	if got := len(s.Accepted()); got != 2 {
		t.Errorf("%d accepted, want 2", got)
	}
}

func TestHangReleasedByClient(t *testing.T) {
	s := twiliotest.Start(t, twiliotest.FailNth(1, twiliotest.Hang))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
			s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Messages.json",
			strings.NewReader(sms("+14155550100", "x").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(s.AccountSID(), s.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := s.WaitFor(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if r := s.Requests()[0]; r.Status != 0 || r.To != "+14155550100" {
		t.Errorf("hanging request recorded as %+v", r)
	}
	select {
	case err := <-errc:
		t.Fatalf("hanging request answered: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the request")
	}
	// The next request is served.
	if status, _, body := post(t, s, s.AccountSID(), s.AuthToken(), sms("+14155550100", "x")); status != 201 {
		t.Errorf("after hang: %d %s", status, body)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	s, err := twiliotest.New(twiliotest.FailNth(1, twiliotest.Hang))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost,
			s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Messages.json",
			strings.NewReader(sms("+14155550100", "x").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(s.AccountSID(), s.AuthToken())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := s.WaitFor(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	if err := <-errc; err == nil {
		t.Error("hanging request got a response when the server closed")
	}
	_ = s.Close() // twice is fine
}

func TestWaitForConcurrent(t *testing.T) {
	s := twiliotest.Start(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := sms("+1415555"+strings.Repeat("0", 3)+string(rune('0'+i%10)), "x")
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Messages.json", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(s.AccountSID(), s.AuthToken())
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	if err := s.WaitFor(20, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, r := range s.Requests() {
		seen[r.N] = true
	}
	if len(seen) != 20 {
		t.Errorf("request numbers not distinct: %v", seen)
	}
	if err := s.WaitFor(21, 50*time.Millisecond); err == nil {
		t.Error("WaitFor(21) succeeded with 20 requests")
	}
}

func TestUnknownPath(t *testing.T) {
	s := twiliotest.Start(t)
	status, _, body := postTo(t, s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Calls.json", s.AccountSID(), s.AuthToken(), nil)
	if status != http.StatusNotFound || twilioError(t, body).Code != 20404 {
		t.Errorf("%d %s", status, body)
	}
	if s.Count() != 0 {
		t.Errorf("Count %d", s.Count())
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{"", 1},
		{strings.Repeat("a", 160), 1},
		{strings.Repeat("a", 161), 2},
		{strings.Repeat("a", 306), 2},
		{strings.Repeat("a", 307), 3},
		{strings.Repeat("€", 80), 1},  // extension characters take two septets
		{strings.Repeat("€", 81), 2},  // 162 septets
		{strings.Repeat("é", 160), 1}, // in the GSM alphabet
		{strings.Repeat("ś", 70), 1},  // UCS-2
		{strings.Repeat("ś", 71), 2},
		{strings.Repeat("ś", 134), 2},
		{strings.Repeat("ś", 135), 3},
		{strings.Repeat("😀", 35), 1}, // two UTF-16 units each
		{strings.Repeat("😀", 36), 2},
	} {
		if got := twiliotest.Segments(tc.body); got != tc.want {
			t.Errorf("Segments(%d×%q) = %d, want %d", len([]rune(tc.body)), []rune(tc.body)[:min(1, len(tc.body))], got, tc.want)
		}
	}
}
