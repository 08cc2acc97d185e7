package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/outbox"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/templates"
	"github.com/npsgate/npsgate/throttle"
)

const apiKey = "test-key-0123456789abcdef"

type harness struct {
	t     testing.TB
	srv   *httptest.Server
	store *store.Store
	now   time.Time
}

const twilioToken = "twilio-auth-token-0123456789abcdef"

func newHarness(t testing.TB, tweak ...func(*httpapi.Config)) *harness {
	t.Helper()
	st := testenv.Store(t)
	redisURL := testenv.RedisURL(t, testenv.RedisDBHTTPAPI)
	ropt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ropt2, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(ropt2)
	t.Cleanup(func() { rdb.Close() })
	client := dispatcher.NewClient(ropt, 3)
	t.Cleanup(func() { client.Close() })
	reg := channels.NewRegistry()
	for _, name := range []string{"email", "sms"} {
		if err := reg.Register(outbox.New(name, st)); err != nil {
			t.Fatal(err)
		}
	}
	tpl, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, now: time.Now()}
	cfg := httpapi.Config{
		Store: st, Dispatcher: client, Channels: reg, Templates: tpl,
		Links:           dispatcher.Links{Base: "http://gateway.test"},
		APIKeys:         []string{apiKey, "second-key-0123456789"},
		TwilioAuthToken: twilioToken,
		SMSHelpText:     "Acme surveys. Reply STOP to opt out.",
		Gate:            &dispatcher.Gate{Limiter: throttle.New(rdb), Transactional: 30 * 24 * time.Hour},
		Now:             func() time.Time { return h.now },
	}
	for _, f := range tweak {
		f(&cfg)
	}
	handler, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) errField() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (h *harness) do(method, path string, body any, header ...string) answer {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b // a reader of unknown length goes out chunked, with no Content-Length
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (h *harness) form(path string, v url.Values) answer {
	h.t.Helper()
	resp, err := http.PostForm(h.srv.URL+path, v)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
}

func (h *harness) createSurvey() {
	h.t.Helper()
	a := h.do("POST", "/v1/surveys", map[string]any{"key": "onboarding", "kind": "nps", "product_name": "Acme Cloud", "channels": []string{"email", "sms"}})
	if a.status != http.StatusCreated {
		h.t.Fatalf("create survey: %d %s", a.status, a.raw)
	}
}

func trigger(extra map[string]any) map[string]any {
	t := map[string]any{
		"survey":  "onboarding",
		"contact": map[string]any{"external_id": "admin-42", "email": "ada@example.com", "locale": "en", "account": "42", "role": "admin"},
		"delay":   "48h",
	}
	for k, v := range extra {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = v
		}
	}
	return t
}

func TestBadInput(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	big := `{"survey":"onboarding","metadata":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	tests := []struct {
		name      string
		method    string
		path      string
		body      any
		header    []string
		status    int
		code      string
		field     string
		noContact bool
	}{
		{name: "malformed json", method: "POST", path: "/v1/triggers", body: `{"survey": "onboarding",`, status: 400, code: "malformed_json"},
		{name: "not json", method: "POST", path: "/v1/triggers", body: `survey=onboarding`, status: 400, code: "malformed_json"},
		{name: "empty body", method: "POST", path: "/v1/triggers", body: ``, status: 400, code: "malformed_json"},
		{name: "unknown field", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"dely": "1h"}), status: 400, code: "unknown_field", field: "dely", noContact: true},
		{name: "wrong type", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"delay": 48}), status: 400, field: "delay", noContact: true},
		{name: "unknown survey", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"survey": "nope"}), status: 400, field: "survey", noContact: true},
		{name: "missing survey", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"survey": nil}), status: 400, field: "survey", noContact: true},
		{name: "invalid email", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"contact": map[string]any{"external_id": "c1", "email": "ada@"}}), status: 400, field: "contact.email"},
		{name: "invalid phone", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"contact": map[string]any{"external_id": "c1", "phone": "call me"}}), status: 400, field: "contact.phone"},
		{name: "invalid time zone", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"contact": map[string]any{"external_id": "c1", "email": "a@example.com", "time_zone": "Mars/Base"}}), status: 400, field: "contact.time_zone"},
		{name: "negative delay", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"delay": "-5m"}), status: 400, field: "delay", noContact: true},
		{name: "garbage delay", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"delay": "soon"}), status: 400, field: "delay", noContact: true},
		{name: "delay and send_at", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"send_at": "2030-01-01T00:00:00Z"}), status: 400, field: "send_at", noContact: true},
		{name: "unknown channel", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"channel": "pigeon"}), status: 400, field: "channel", noContact: true},
		{name: "no address for channel", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"channel": "sms"}), status: 400, field: "contact.phone", noContact: true},
		{name: "unknown contact by id", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"contact": map[string]any{"external_id": "ghost"}}), status: 400, field: "contact.external_id"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/triggers", body: big, status: 413, code: "body_too_large", noContact: true},
		{name: "body over 1 MiB, chunked", method: "POST", path: "/v1/triggers", body: struct{ io.Reader }{strings.NewReader(big)}, status: 413, code: "body_too_large", noContact: true},
		{name: "opt-out in a trigger", method: "POST", path: "/v1/triggers", body: trigger(map[string]any{"contact": map[string]any{"external_id": "c1", "email": "a@example.com", "opted_out_at": "2026-01-01T00:00:00Z"}}), status: 400, field: "contact.opted_out_at"},
		{name: "missing api key", method: "POST", path: "/v1/triggers", body: trigger(nil), header: []string{"Authorization", ""}, status: 401, code: "unauthorized", noContact: true},
		{name: "wrong api key", method: "POST", path: "/v1/triggers", body: trigger(nil), header: []string{"Authorization", "Bearer test-key-0123456789abcdeX"}, status: 401, code: "unauthorized", noContact: true},
		{name: "basic auth is not a key", method: "GET", path: "/v1/surveys", header: []string{"Authorization", "Basic dGVzdDp0ZXN0"}, status: 401},
		{name: "bad survey key", method: "POST", path: "/v1/surveys", body: map[string]any{"key": "Bad Key", "product_name": "x"}, status: 400, field: "key"},
		{name: "bad kind", method: "POST", path: "/v1/surveys", body: map[string]any{"key": "k2", "kind": "stars", "product_name": "x"}, status: 400, field: "kind"},
		{name: "survey without product", method: "POST", path: "/v1/surveys", body: map[string]any{"key": "k3"}, status: 400, field: "product_name"},
		{name: "survey exists", method: "POST", path: "/v1/surveys", body: map[string]any{"key": "onboarding", "product_name": "x"}, status: 409, field: "key"},
		{name: "broken template", method: "POST", path: "/v1/surveys", body: map[string]any{"key": "k4", "product_name": "x", "templates": map[string]any{"email": map[string]any{"en": map[string]any{"html": "<p>\n{{.Question}}\n{{.Nope}}</p>"}}}}, status: 400, field: "templates.email.en.html"},
		{name: "results without survey", method: "GET", path: "/v1/results", status: 400, field: "survey"},
		{name: "results bad date", method: "GET", path: "/v1/results?survey=onboarding&from=yesterday", status: 400, field: "from"},
		{name: "responses bad category", method: "GET", path: "/v1/responses?category=fans", status: 400, field: "category"},
		{name: "unknown delivery", method: "GET", path: "/v1/deliveries/nope", status: 404, code: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(tt.method, tt.path, tt.body, tt.header...)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if e, ok := a.body["error"].(map[string]any); !ok || e["message"] == "" {
				t.Fatalf("no JSON error body: %s", a.raw)
			}
			if tt.code != "" && a.errCode() != tt.code {
				t.Errorf("code %q, want %q", a.errCode(), tt.code)
			}
			if tt.field != "" && a.errField() != tt.field {
				t.Errorf("field %q, want %q (%s)", a.errField(), tt.field, a.raw)
			}
			if tt.noContact {
				if _, err := h.store.GetContact(context.Background(), "admin-42"); err == nil {
					t.Fatal("a refused request saved its contact")
				}
			}
		})
	}
	if _, err := h.store.GetContact(context.Background(), "c1"); err == nil {
		t.Fatal("a refused request saved its contact")
	}
	// Nothing refused may leave a delivery or a message behind.
	counts, err := h.store.DeliveryCounts(context.Background(), "onboarding", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for status, n := range counts {
		if n != 0 {
			t.Errorf("a refused request left %d %s deliveries", n, status)
		}
	}
	if msgs, err := h.store.ListOutbox(context.Background(), 10, 0); err != nil || len(msgs) != 0 {
		t.Errorf("a refused request left outbox messages: %v %v", len(msgs), err)
	}
	if _, err := h.store.GetSurvey(context.Background(), "k4"); err == nil {
		t.Fatal("a survey with a broken template was saved")
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	body := trigger(map[string]any{"idempotency_key": "impl-done-42"})
	first := h.do("POST", "/v1/triggers", body)
	if first.status != http.StatusAccepted || first.body["replayed"] != false {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	again := h.do("POST", "/v1/triggers", body)
	if again.status != http.StatusAccepted || again.body["delivery_id"] != first.body["delivery_id"] || again.body["replayed"] != true {
		t.Fatalf("replay must return the same delivery: %s vs %s", again.raw, first.raw)
	}
	// The key in a header works the same.
	hdr := h.do("POST", "/v1/triggers", trigger(nil), "Idempotency-Key", "impl-done-42")
	if hdr.status != http.StatusAccepted || hdr.body["delivery_id"] != first.body["delivery_id"] {
		t.Fatalf("header key: %d %s", hdr.status, hdr.raw)
	}
	changed := h.do("POST", "/v1/triggers", trigger(map[string]any{"idempotency_key": "impl-done-42", "delay": "1h"}))
	if changed.status != http.StatusConflict || changed.errField() != "idempotency_key" {
		t.Fatalf("different body, same key: %d %s", changed.status, changed.raw)
	}
	// A conflicting request must not have changed the contact either.
	conflicting := trigger(map[string]any{"idempotency_key": "impl-done-42", "contact": map[string]any{"external_id": "admin-42", "email": "other@example.com"}})
	if a := h.do("POST", "/v1/triggers", conflicting); a.status != http.StatusConflict {
		t.Fatalf("conflict: %d %s", a.status, a.raw)
	}
	c, err := h.store.GetContact(context.Background(), "admin-42")
	if err != nil || c.Email != "ada@example.com" {
		t.Fatalf("contact changed by a refused request: %+v %v", c, err)
	}
	d := h.do("GET", "/v1/deliveries/"+first.body["delivery_id"].(string), nil)
	if d.status != 200 || d.body["status"] != "queued" || d.body["channel"] != "email" {
		t.Fatalf("delivery: %s", d.raw)
	}
}

func TestContacts(t *testing.T) {
	h := newHarness(t)
	a := h.do("PUT", "/v1/contacts/u-1", map[string]any{"email": "u1@example.com", "phone": "+1 (415) 555-0100", "locale": "zh-cn", "time_zone": "Asia/Shanghai", "tags": []string{"beta"}, "attributes": map[string]string{"tier": "KA"}})
	if a.status != http.StatusCreated || a.body["phone"] != "+14155550100" || a.body["locale"] != "zh-CN" {
		t.Fatalf("put: %d %s", a.status, a.raw)
	}
	if a := h.do("PUT", "/v1/contacts/u-1", map[string]any{"email": "u1@example.com"}); a.status != http.StatusOK {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	if a := h.do("PUT", "/v1/contacts/u-1", map[string]any{"external_id": "u-2"}); a.status != 400 || a.errField() != "external_id" {
		t.Fatalf("mismatched id: %d %s", a.status, a.raw)
	}
	if a := h.do("GET", "/v1/contacts/u-1", nil); a.status != 200 || a.body["email"] != "u1@example.com" {
		t.Fatalf("get: %s", a.raw)
	}
	if a := h.do("GET", "/v1/contacts/nobody", nil); a.status != 404 {
		t.Fatalf("unknown: %d", a.status)
	}
}

func TestReplyPageBadScoreWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	tr := h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil}))
	id := tr.body["delivery_id"].(string)
	d, err := h.store.GetDelivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, score := range []string{"11", "-1", "", "seven", "9.5"} {
		a := h.form("/r/"+d.Token, url.Values{"score": {score}, "comment": {"hi"}})
		if a.status != http.StatusBadRequest {
			t.Fatalf("score %q: %d", score, a.status)
		}
	}
	if _, err := h.store.GetResponseByDelivery(context.Background(), id); err == nil {
		t.Fatal("an invalid score was recorded")
	}
	// A GET never records, even with a score.
	resp, err := http.Get(h.srv.URL + "/r/" + d.Token + "?score=9")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `value="9" data-cat="promoter" checked`) {
		t.Fatalf("GET with score: %d\n%s", resp.StatusCode, page)
	}
	if _, err := h.store.GetResponseByDelivery(context.Background(), id); err == nil {
		t.Fatal("a GET recorded an answer")
	}
}

func TestReplyPageUnknownToken(t *testing.T) {
	h := newHarness(t)
	for _, tok := range []string{"nope", "AAAAAAAAAAAAAAAAAAAAAA", "../../etc/passwd"} {
		resp, err := http.Get(h.srv.URL + "/r/" + url.PathEscape(tok))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), "<html") {
			t.Fatalf("%q: %d %s", tok, resp.StatusCode, body)
		}
	}
}

func TestSMSTemplateReport(t *testing.T) {
	h := newHarness(t)
	a := h.do("POST", "/v1/surveys", map[string]any{"key": "sms-ok", "product_name": "Acme", "channels": []string{"sms"}})
	if a.status != 201 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	en := a.body["sms"].(map[string]any)["en"].(map[string]any)
	zh := a.body["sms"].(map[string]any)["zh-CN"].(map[string]any)
	if en["encoding"] != "GSM-7" || en["segments"] != 1.0 || zh["encoding"] != "UCS-2" {
		t.Fatalf("report: %v", a.body["sms"])
	}
	long := strings.Repeat("Please tell us how we did. ", 30) + "{{.ReplyURL}}"
	a = h.do("POST", "/v1/surveys", map[string]any{"key": "sms-long", "product_name": "Acme", "channels": []string{"sms"},
		"templates": map[string]any{"sms": map[string]any{"en": map[string]any{"text": long}}}})
	if a.status != 400 || a.errField() != "templates.sms.en.text" || !strings.Contains(a.raw, "GSM-7 segments") {
		t.Fatalf("long sms: %d %s", a.status, a.raw)
	}
}

func TestAlertRulesAndWebhooksAPI(t *testing.T) {
	h := newHarness(t)
	bad := []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/v1/alert-rules", map[string]any{"priority": "P0", "targets": []any{map[string]any{"channel": "email", "address": "cs@acme.test"}}}, "priority"},
		{"/v1/alert-rules", map[string]any{"categories": []string{"fans"}, "targets": []any{map[string]any{"channel": "email", "address": "cs@acme.test"}}}, "categories[0]"},
		{"/v1/alert-rules", map[string]any{"targets": []any{}}, "targets"},
		{"/v1/alert-rules", map[string]any{"targets": []any{map[string]any{"channel": "email", "address": "nope"}}}, "targets[0].address"},
		{"/v1/alert-rules", map[string]any{"targets": []any{map[string]any{"channel": "fax", "address": "1"}}}, "targets[0].channel"},
		{"/v1/alert-rules", map[string]any{"score_min": 5, "score_max": 3, "targets": []any{map[string]any{"channel": "email", "address": "cs@acme.test"}}}, "score_max"},
		{"/v1/webhooks", map[string]any{"url": "ftp://x", "events": []string{"response.created"}}, "url"},
		{"/v1/webhooks", map[string]any{"url": "https://crm.test/hook", "events": []string{"response.deleted"}}, "events[0]"},
		{"/v1/webhooks", map[string]any{"url": "https://crm.test/hook"}, "events"},
		{"/v1/webhooks", map[string]any{"url": "https://crm.test/hook", "events": []string{"*"}, "secret": "short"}, "secret"},
	}
	for _, b := range bad {
		if a := h.do("POST", b.path, b.body); a.status != 400 || a.errField() != b.field {
			t.Errorf("%s %v: %d %s, want field %s", b.path, b.body, a.status, a.raw, b.field)
		}
	}
	a := h.do("POST", "/v1/alert-rules", map[string]any{"name": "KA detractors", "categories": []string{"detractor"},
		"attributes": map[string]string{"tier": "KA"}, "priority": "P1",
		"targets": []any{map[string]any{"channel": "sms", "address": "+1 415 555 0100"}}})
	if a.status != 201 || a.body["targets"].([]any)[0].(map[string]any)["address"] != "+14155550100" {
		t.Fatalf("create rule: %d %s", a.status, a.raw)
	}
	id := a.body["id"].(string)
	if a := h.do("PUT", "/v1/alert-rules/"+id, map[string]any{"priority": "P3", "enabled": false, "targets": []any{map[string]any{"channel": "email", "address": "cs@acme.test"}}}); a.status != 200 || a.body["enabled"] != false {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	if a := h.do("GET", "/v1/alert-rules", nil); len(a.body["alert_rules"].([]any)) != 1 {
		t.Fatalf("list: %s", a.raw)
	}
	if a := h.do("DELETE", "/v1/alert-rules/"+id, nil); a.status != 204 {
		t.Fatalf("delete: %d", a.status)
	}
	if a := h.do("GET", "/v1/alert-rules/"+id, nil); a.status != 404 {
		t.Fatalf("deleted rule: %d", a.status)
	}
	w := h.do("POST", "/v1/webhooks", map[string]any{"url": "https://crm.test/hook", "events": []string{"response.created", "contact.opted_out"}})
	if w.status != 201 || !strings.HasPrefix(w.body["secret"].(string), "whsec_") {
		t.Fatalf("webhook: %d %s", w.status, w.raw)
	}
	g := h.do("GET", "/v1/webhooks/"+w.body["id"].(string), nil)
	if g.status != 200 || g.body["secret"] != nil {
		t.Fatalf("the secret is shown once only: %s", g.raw)
	}
	if d := h.do("GET", "/v1/webhooks/"+w.body["id"].(string)+"/deliveries", nil); d.status != 200 {
		t.Fatalf("deliveries: %d %s", d.status, d.raw)
	}
	if d := h.do("POST", "/v1/webhooks/"+w.body["id"].(string)+"/deliveries/nope/replay", nil); d.status != 404 {
		t.Fatalf("replay unknown: %d", d.status)
	}
}

func TestEraseAndExportContact(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	tr := h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil}))
	id := tr.body["delivery_id"].(string)
	d, _ := h.store.GetDelivery(context.Background(), id)
	if a := h.form("/r/"+d.Token, url.Values{"score": {"4"}, "comment": {"Call me at +1 415 555 0100"}}); a.status != 200 {
		t.Fatalf("answer: %d", a.status)
	}
	// What the notifier and the webhook fan-out would have written about
	// the answer: an alert to the team, an event to a subscriber.
	ctx := context.Background()
	rs, _, err := h.store.ListResponses(ctx, store.ResponseFilter{Survey: "onboarding"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("responses: %v %v", rs, err)
	}
	if _, _, err := h.store.CreateAlert(ctx, &store.Alert{ID: "al_export", ResponseID: rs[0].ID, RuleID: "r1",
		Target: store.Target{Channel: "webhook", Address: "https://chat.test/hook?secret=s3"}, TargetKey: "webhook:team", Priority: "P1"}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateWebhook(ctx, &store.WebhookSubscription{ID: "w_export", URL: "https://crm.test/hook", Secret: "whsec_x",
		Events: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateWebhookEvent(ctx, &store.WebhookEvent{ID: "msg_export", SubscriptionID: "w_export", EventID: "ev_export",
		Type: "response.created", Payload: []byte(`{"type":"response.created","data":{"contact_id":"admin-42","score":4}}`)}); err != nil {
		t.Fatal(err)
	}
	ex := h.do("GET", "/v1/contacts/admin-42/export", nil)
	if ex.status != 200 || len(ex.body["responses"].([]any)) != 1 || len(ex.body["deliveries"].([]any)) != 1 ||
		ex.body["contact"].(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("export: %d %s", ex.status, ex.raw)
	}
	// The export names its fields as the rest of the API does, and holds
	// what was said about the person elsewhere: alerts (by the target's
	// key, never its secret URL) and webhook events with their payloads.
	if got := ex.body["deliveries"].([]any)[0].(map[string]any); got["id"] != id || got["survey"] != "onboarding" {
		t.Fatalf("export delivery: %v", got)
	}
	if as := ex.body["alerts"].([]any); len(as) != 1 || as[0].(map[string]any)["target"] != "webhook:team" {
		t.Fatalf("export alerts: %v", ex.body["alerts"])
	}
	if strings.Contains(ex.raw, "secret=s3") || strings.Contains(ex.raw, "whsec_x") {
		t.Fatalf("export shows a secret: %s", ex.raw)
	}
	ws := ex.body["webhook_events"].([]any)
	if len(ws) != 1 || ws[0].(map[string]any)["payload"].(map[string]any)["data"].(map[string]any)["score"] != 4.0 {
		t.Fatalf("export webhook events: %v", ex.body["webhook_events"])
	}
	if _, ok := ex.body["outbox_messages"].([]any); !ok {
		t.Fatalf("export has no outbox_messages list: %s", ex.raw)
	}
	if a := h.do("DELETE", "/v1/contacts/admin-42", nil); a.status != 204 {
		t.Fatalf("erase: %d %s", a.status, a.raw)
	}
	if a := h.do("GET", "/v1/contacts/admin-42", nil); a.status != 404 {
		t.Fatalf("after erase: %d", a.status)
	}
	// The score stays, anonymous; the comment and the address are gone.
	res := h.do("GET", "/v1/results?survey=onboarding", nil)
	if res.body["responses"] != 1.0 {
		t.Fatalf("results after erase: %s", res.raw)
	}
	list := h.do("GET", "/v1/responses?survey=onboarding", nil)
	r := list.body["responses"].([]any)[0].(map[string]any)
	if r["comment"] != "" || !strings.HasPrefix(r["contact_id"].(string), "erased-") {
		t.Fatalf("response after erase: %v", r)
	}
	d, _ = h.store.GetDelivery(context.Background(), id)
	if d.Address != "" || d.ContactID == "admin-42" {
		t.Fatalf("delivery after erase: %+v", d)
	}
	if a := h.do("DELETE", "/v1/contacts/admin-42", nil); a.status != 404 {
		t.Fatalf("second erase: %d", a.status)
	}
}

// A client reading "nps" must find the key whether or not anyone answered:
// null before the first response, a number after.
func TestResultsShapeWithoutResponses(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	res := h.do("GET", "/v1/results?survey=onboarding", nil)
	if res.status != 200 {
		t.Fatalf("results: %d %s", res.status, res.raw)
	}
	for _, k := range []string{"nps", "score", "margin_of_error", "response_rate"} {
		v, ok := res.body[k]
		if !ok || v != nil {
			t.Errorf("%s: present=%v value=%v, want null: %s", k, ok, v, res.raw)
		}
	}
	if res.body["responses"] != 0.0 {
		t.Errorf("responses: %v", res.body["responses"])
	}
}

// An answer can be changed for 7 days, then it is locked; once the reply
// window is over the link leads to a friendly 404, for GET and POST alike.
func TestReplyPageWindows(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	tr := h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil}))
	id := tr.body["delivery_id"].(string)
	d, err := h.store.GetDelivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a := h.form("/r/"+d.Token, url.Values{"score": {"4"}}); a.status != 200 {
		t.Fatalf("answer: %d", a.status)
	}
	h.now = h.now.Add(6 * 24 * time.Hour)
	if a := h.form("/r/"+d.Token, url.Values{"score": {"6"}}); a.status != 200 {
		t.Fatalf("change on day 6: %d", a.status)
	}
	h.now = h.now.Add(2 * 24 * time.Hour)
	if a := h.form("/r/"+d.Token, url.Values{"score": {"10"}}); a.status != http.StatusConflict {
		t.Fatalf("change on day 8: %d, want 409", a.status)
	}
	r, err := h.store.GetResponseByDelivery(context.Background(), id)
	if err != nil || r.Score != 6 {
		t.Fatalf("after the lock: %+v %v, want score 6", r, err)
	}

	tr = h.do("POST", "/v1/triggers", trigger(map[string]any{"delay": nil, "idempotency_key": "second", "throttle_days": 0}))
	d2, err := h.store.GetDelivery(context.Background(), tr.body["delivery_id"].(string))
	if err != nil {
		t.Fatalf("second trigger: %v %s", err, tr.raw)
	}
	h.now = d2.ExpiresAt.Add(time.Hour)
	resp, err := http.Get(h.srv.URL + "/r/" + d2.Token + "?score=9")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(page), "<html") {
		t.Fatalf("expired link GET: %d\n%s", resp.StatusCode, page)
	}
	if a := h.form("/r/"+d2.Token, url.Values{"score": {"9"}}); a.status != http.StatusNotFound {
		t.Fatalf("expired link POST: %d, want 404", a.status)
	}
	if _, err := h.store.GetResponseByDelivery(context.Background(), d2.ID); err == nil {
		t.Fatal("an expired link recorded an answer")
	}
}
