package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// bodyRoutes are the management routes that read a JSON body (triggers
// have their own target). A new one belongs here.
var bodyRoutes = []struct {
	method, path string
	seeds        []string
}{
	{"POST", "/v1/surveys", []string{
		`{"key":"fz","kind":"nps","product_name":"Acme","channels":["email"]}`,
		`{"key":"fz2","kind":"csat","channels":["sms"],"texts":{"en":{"question":"How was {{.ProductName}}?"}}}`,
		`{"key":"fz3","kind":"nps","templates":{"email":{"en":{"subject":"{{.Nope"}}}}`,
	}},
	{"PUT", "/v1/surveys/onboarding", []string{
		`{"kind":"nps","product_name":"Acme Cloud","channels":["email","sms"]}`,
		`{"kind":"ces","follow_ups":{"detractor":""}}`,
	}},
	{"PUT", "/v1/contacts/fz-1", []string{
		`{"email":"a@example.com","phone":"+14155550100","locale":"en","time_zone":"Europe/Berlin","tags":["beta"],"attributes":{"tier":"KA"}}`,
		`{"time_zone":"Mars/Olympus","phone":"12"}`,
	}},
	{"POST", "/v1/alert-rules", []string{
		`{"name":"d","score_max":6,"priority":"P1","targets":[{"channel":"email","address":"cs@example.com"}]}`,
		`{"name":"x","score_min":11,"targets":[{"channel":"slack","address":"http://127.0.0.1/x"}]}`,
	}},
	{"POST", "/v1/campaigns", []string{
		`{"name":"q","survey":"onboarding","audience":"role in (\"admin\")","schedule":{"kind":"quarterly","time_zone":"UTC"}}`,
		`{"name":"c","survey":"onboarding","schedule":{"kind":"cron","cron":"* * *"},"send_window":{"days":[8],"start":"25:00"}}`,
	}},
	{"POST", "/v1/audiences/preview", []string{`{"audience":"tier = \"KA\" and tag = \"beta\""}`, `{"audience":"((("}`}},
	{"POST", "/v1/suppressions", []string{`{"channel":"email","address":"a@example.com","reason":"asked"}`, `{"channel":"fax"}`}},
	{"POST", "/v1/webhooks", []string{`{"url":"https://hooks.example.com/nps","events":["response.created"]}`, `{"url":"ftp://x","events":["nope"]}`}},
}

// FuzzJSONBodies: whatever a caller posts to any management route, the
// answer is a 2xx or a 4xx with a JSON error naming what is wrong, never
// a 5xx.
func FuzzJSONBodies(f *testing.F) {
	h := newHarness(f)
	h.createSurvey()
	generic := []string{`[]`, `null`, `{}`, "\x00\xff", `{"a":1}{}`, `{"key":` + strings.Repeat("[", 500) + `}`, `"str"`}
	for i, r := range bodyRoutes {
		for _, s := range append(r.seeds, generic...) {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		h := *h // the harness reports to this input's t
		h.t = t
		// A body that makes a handler hang would stall the fuzzer
		// silently: crash with it instead.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("hung: %s %s %q", r.method, r.path, body))
			}
		}()
		a := h.do(r.method, r.path, body)
		if a.status >= 500 || (a.status >= 400 && a.errCode() == "") {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, a.status, a.raw)
		}
	})
}
