package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// answers seeds responses straight into the store, back-dated as an
// import may: survey key, contact, channel, score, comment, when.
type seeded struct {
	survey, contact, channel string
	score                    int
	comment                  string
	at                       time.Time
}

func (h *harness) seedAnalytics(kind survey.Kind, key string, rows []seeded) []string {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.store.GetSurvey(ctx, key); err != nil {
		if err := h.store.CreateSurvey(ctx, &store.Survey{Key: key, Kind: kind, ProductName: "Acme"}); err != nil {
			h.t.Fatal(err)
		}
	}
	var ids []string
	for i, r := range rows {
		id := fmt.Sprintf("%s-%s-%d", key, r.contact, i)
		sent := r.at.Add(-time.Hour)
		d := &store.Delivery{ID: id, SurveyKey: key, ContactID: r.contact, Channel: r.channel, Locale: "en",
			Token: fmt.Sprintf("tok%019d", len(ids)+1000*len(key)+i), Status: store.StatusResponded,
			CreatedAt: sent, SentAt: &sent, RespondedAt: &r.at, ExpiresAt: h.now.Add(24 * time.Hour)}
		if _, _, err := h.store.CreateDelivery(ctx, d); err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.store.SaveResponse(ctx, &store.Response{DeliveryID: id, Score: r.score, Comment: r.comment, CreatedAt: r.at}); err != nil {
			h.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (h *harness) contacts() {
	h.t.Helper()
	for _, c := range []*store.Contact{
		{ExternalID: "ada", Name: "Ada", Account: "Globex", Role: "admin", Attributes: map[string]string{"tier": "KA", "plan name": "Pro"}},
		{ExternalID: "bo", Name: "Bo", Account: "Globex", Role: "user", Attributes: map[string]string{"tier": "KA"}},
		{ExternalID: "cy", Name: "Cy", Account: "Initech", Role: "admin", Attributes: map[string]string{"tier": "SMB"}},
	} {
		if _, err := h.store.UpsertContact(context.Background(), c); err != nil {
			h.t.Fatal(err)
		}
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func TestResultsSummaryMatchesResults(t *testing.T) {
	h := newHarness(t)
	h.contacts()
	at := h.now.Add(-24 * time.Hour)
	h.seedAnalytics(survey.NPS, "nps", []seeded{
		{"nps", "ada", "email", 10, "great", at}, {"nps", "ada", "sms", 9, "", at}, {"nps", "bo", "email", 3, "slow", at},
		{"nps", "cy", "email", 7, "", at}, {"nps", "cy", "sms", 0, "", at}, {"nps", "bo", "email", 10, "", at},
	})
	old := h.do("GET", "/v1/results?survey=nps", nil)
	sum := h.do("GET", "/v1/results/summary?survey=nps", nil)
	if sum.status != 200 {
		t.Fatalf("summary: %d %s", sum.status, sum.raw)
	}
	s := sum.body["summary"].(map[string]any)
	if s["nps"] != old.body["nps"] || s["margin_of_error"] != old.body["margin_of_error"] || s["responses"] != old.body["responses"] {
		t.Errorf("summary %v does not match /v1/results %v", s, old.body)
	}
	want := survey.Summarize(survey.NPS, survey.Tally{0: 1, 3: 1, 7: 1, 9: 1, 10: 2})
	if num(s["nps"]) != want.Score || num(s["margin_of_error"]) != want.MarginOfError || num(s["responses"]) != 6 {
		t.Errorf("summary = %v, want %+v", s, want)
	}
	if num(sum.body["sent"]) != 6 || num(sum.body["answered"]) != 6 || num(sum.body["response_rate"]) != 100 {
		t.Errorf("sent %v answered %v rate %v", sum.body["sent"], sum.body["answered"], sum.body["response_rate"])
	}
	// Segments.
	for q, n := range map[string]float64{
		"account=Globex": 4, "role=admin": 4, "channel=sms": 2, "attr.tier=KA": 4, "attr.plan+name=Pro": 2,
		"category=detractor": 2, "score=9-10": 3, "q=SLOW": 1, "from=" + h.now.Format("2006-01-02"): 0,
	} {
		a := h.do("GET", "/v1/results/summary?survey=nps&"+q, nil)
		if a.status != 200 {
			t.Errorf("%s: %d %s", q, a.status, a.raw)
			continue
		}
		if got := num(a.body["summary"].(map[string]any)["responses"]); got != n {
			t.Errorf("%s: %v responses, want %v", q, got, n)
		}
		if strings.HasPrefix(q, "category") && a.body["response_rate"] != nil {
			t.Errorf("%s: a response rate of a category: %v", q, a.body["response_rate"])
		}
	}
	for q, field := range map[string]string{
		"": "survey", "survey=nps&score=11": "score", "survey=nps&score=x": "score", "survey=nps&category=fan": "category",
		"survey=nps&from=yesterday": "from", "survey=nps&tz=Mars/Base": "tz", `survey=nps&attr.a"b=1`: `attr.a"b`,
		"survey=nps&from=2026-02-01&to=2026-01-01": "to",
	} {
		a := h.do("GET", "/v1/results/summary?"+strings.ReplaceAll(q, `"`, "%22"), nil)
		if a.status != 400 || a.errField() != field {
			t.Errorf("%q: %d field %q, want 400 on %q (%s)", q, a.status, a.errField(), field, a.raw)
		}
	}
	if a := h.do("GET", "/v1/results/summary?survey=nope", nil); a.status != 404 {
		t.Errorf("unknown survey: %d", a.status)
	}
	if a := h.do("GET", "/v1/results/summary?survey=nps", nil, "Authorization", ""); a.status != 401 {
		t.Errorf("without a key: %d", a.status)
	}
}

func TestResultsBreakdown(t *testing.T) {
	h := newHarness(t)
	h.contacts()
	at := h.now.Add(-time.Hour)
	h.seedAnalytics(survey.NPS, "nps", []seeded{
		{"nps", "ada", "email", 10, "", at}, {"nps", "bo", "email", 0, "", at}, {"nps", "cy", "sms", 9, "", at},
		{"nps", "gone", "sms", 8, "", at},
	})
	h.seedAnalytics(survey.CSAT, "csat", []seeded{{"csat", "ada", "email", 4, "", at}, {"csat", "bo", "email", 2, "", at}})
	a := h.do("GET", "/v1/results/breakdown?survey=nps&by=attr.tier", nil)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	got := map[string][2]float64{}
	for _, g := range a.body["groups"].([]any) {
		m := g.(map[string]any)
		got[m["key"].(string)] = [2]float64{num(m["responses"]), num(m["score"])}
	}
	want := map[string][2]float64{"KA": {2, 0}, "SMB": {1, 100}, "": {1, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("by tier = %v, want %v", got, want)
	}
	a = h.do("GET", "/v1/results/breakdown?by=survey", nil)
	groups := a.body["groups"].([]any)
	if len(groups) != 2 {
		t.Fatalf("by survey: %s", a.raw)
	}
	for _, g := range groups {
		m := g.(map[string]any)
		if m["key"] == "csat" && (num(m["csat"]) != 50 || m["nps"] != nil) {
			t.Errorf("csat group scored as %v", m)
		}
	}
	for _, by := range []string{"", "score", "attr."} {
		if a := h.do("GET", "/v1/results/breakdown?survey=nps&by="+by, nil); a.status != 400 || a.errField() != "by" {
			t.Errorf("by %q: %d %s", by, a.status, a.raw)
		}
	}
}

func TestResultsTrend(t *testing.T) {
	h := newHarness(t)
	h.now = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	var rows []seeded
	// January: 20 answers, NPS −20. March: 20 answers, NPS +60. One
	// answer at 2026-02-28 17:00 UTC, which is March 1st in Shanghai.
	for i := range 20 {
		score := []int{10, 8, 8, 0, 0}[i%5]
		rows = append(rows, seeded{"nps", fmt.Sprintf("j%d", i), "email", score, "", time.Date(2026, 1, 10, 9, i, 0, 0, time.UTC)})
		score = []int{10, 10, 10, 10, 8}[i%5]
		if i%10 == 0 {
			score = 0
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("m%d", i), "email", score, "", time.Date(2026, 3, 10, 9, i, 0, 0, time.UTC)})
	}
	rows = append(rows, seeded{"nps", "edge", "email", 10, "", time.Date(2026, 2, 28, 17, 0, 0, 0, time.UTC)})
	h.seedAnalytics(survey.NPS, "nps", rows)

	a := h.do("GET", "/v1/results/trend?survey=nps&period=month&from=2026-01-01&tz=Asia/Shanghai", nil)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	pts := a.body["points"].([]any)
	var labels []string
	for _, p := range pts {
		labels = append(labels, p.(map[string]any)["label"].(string))
	}
	if strings.Join(labels, ",") != "2026-01,2026-02,2026-03,2026-04" {
		t.Fatalf("labels %v", labels)
	}
	jan, feb, mar := pts[0].(map[string]any), pts[1].(map[string]any), pts[2].(map[string]any)
	if num(jan["responses"]) != 20 || num(jan["nps"]) != -20 || jan["change"] != nil {
		t.Errorf("January = %v", jan)
	}
	if num(feb["responses"]) != 0 || feb["score"] != nil || feb["change"] != nil {
		t.Errorf("February (the edge answer is March in Shanghai) = %v", feb)
	}
	if num(mar["responses"]) != 21 {
		t.Errorf("March = %v", mar)
	}
	if start := mar["start"].(string); start != "2026-03-01T00:00:00+08:00" {
		t.Errorf("March starts at %s, want midnight in Shanghai", start)
	}
	// Weeks: the change from one week to the next and its significance.
	a = h.do("GET", "/v1/results/trend?survey=nps&period=week&from=2026-03-02&to=2026-03-15", nil)
	pts = a.body["points"].([]any)
	if len(pts) != 2 {
		t.Fatalf("weeks: %s", a.raw)
	}
	w2 := pts[1].(map[string]any)
	if w2["label"] != "2026-W11" || num(w2["responses"]) != 20 || w2["change"] != nil {
		t.Errorf("week 11 = %v", w2)
	}
	// Quarters compare Q1 with nothing before it.
	a = h.do("GET", "/v1/results/trend?survey=nps&period=quarter&from=2025-10-01", nil)
	pts = a.body["points"].([]any)
	q1 := pts[1].(map[string]any)
	if q1["label"] != "2026-Q1" || num(q1["responses"]) != 41 || q1["change"] != nil {
		t.Errorf("Q1 = %v", q1)
	}
	// Default: the last 12 months up to now.
	a = h.do("GET", "/v1/results/trend?survey=nps", nil)
	pts = a.body["points"].([]any)
	if len(pts) != 12 || pts[11].(map[string]any)["label"] != "2026-04" {
		t.Errorf("default trend: %d points, last %v", len(pts), pts[len(pts)-1])
	}
	if a := h.do("GET", "/v1/results/trend?survey=nps&period=day", nil); a.status != 400 || a.errField() != "period" {
		t.Errorf("period=day: %d %s", a.status, a.raw)
	}
	if a := h.do("GET", "/v1/results/trend?survey=nps&period=week&from=2000-01-01", nil); a.status != 400 {
		t.Errorf("26 years of weeks: %d", a.status)
	}
}

func TestResultsTrendSignificance(t *testing.T) {
	h := newHarness(t)
	h.now = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	var rows []seeded
	for i := range 60 {
		// January: all detractors but a few; February: all promoters.
		jan := 0
		if i%6 == 0 {
			jan = 10
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("j%d", i), "email", jan, "", time.Date(2026, 1, 5, 9, i, 0, 0, time.UTC)})
		rows = append(rows, seeded{"nps", fmt.Sprintf("f%d", i), "email", 9 + i%2, "", time.Date(2026, 2, 5, 9, i, 0, 0, time.UTC)})
		// March: a little lower than February, within the margin.
		mar := 10
		if i%20 == 0 {
			mar = 7
		}
		rows = append(rows, seeded{"nps", fmt.Sprintf("m%d", i), "email", mar, "", time.Date(2026, 3, 5, 9, i, 0, 0, time.UTC)})
	}
	h.seedAnalytics(survey.NPS, "nps", rows)
	pts := h.do("GET", "/v1/results/trend?survey=nps&from=2026-01-01&to=2026-03-31", nil).body["points"].([]any)
	feb, mar := pts[1].(map[string]any), pts[2].(map[string]any)
	jan := survey.Summarize(survey.NPS, survey.Tally{0: 50, 10: 10})
	fs := survey.Summarize(survey.NPS, survey.Tally{9: 30, 10: 30})
	if want := math.Round((fs.Score-jan.Score)*10) / 10; num(feb["change"]) != want || feb["significant"] != true {
		t.Errorf("February = %v, want change %.1f, significant", feb, want)
	}
	if num(mar["change"]) != -5 || mar["significant"] != false || num(mar["change_margin_of_error"]) <= 5 {
		t.Errorf("March = %v, want change −5 within the margin", mar)
	}
}

func TestResultsFunnelCountsOpenedReplyPages(t *testing.T) {
	h := newHarness(t)
	h.createSurvey()
	ctx := context.Background()
	mk := func(id, channel string, to ...store.DeliveryStatus) *store.Delivery {
		d := &store.Delivery{ID: id, SurveyKey: "onboarding", ContactID: "c-" + id, Channel: channel, Locale: "en",
			Token: strings.Repeat(id[:1], 22), ExpiresAt: h.now.Add(time.Hour)}
		if _, _, err := h.store.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		from := store.StatusQueued
		for _, st := range to {
			if _, err := h.store.Transition(ctx, id, []store.DeliveryStatus{from}, st, store.Update{}); err != nil {
				t.Fatal(err)
			}
			from = st
		}
		return d
	}
	a := mk("a1", "email", store.StatusSending, store.StatusSent)
	b := mk("b1", "email", store.StatusSending, store.StatusSent)
	mk("c1", "email", store.StatusSending, store.StatusSent)
	mk("d1", "email", store.StatusSending, store.StatusFailed)
	mk("e1", "sms", store.StatusSending, store.StatusSent, store.StatusDelivered)
	// Opening the reply page (twice) counts once; answering counts too.
	for _, tok := range []string{a.Token, a.Token, b.Token} {
		if r := h.do("GET", "/r/"+tok, nil); r.status != 200 {
			t.Fatalf("reply page: %d", r.status)
		}
	}
	if r := h.form("/r/"+b.Token, url.Values{"score": {"9"}}); r.status != 200 {
		t.Fatalf("answer: %d %s", r.status, r.raw)
	}
	f := h.do("GET", "/v1/results/funnel?survey=onboarding", nil)
	if f.status != 200 {
		t.Fatalf("%d %s", f.status, f.raw)
	}
	chans := f.body["channels"].([]any)
	email, sms := chans[0].(map[string]any), chans[1].(map[string]any)
	if email["channel"] != "email" || num(email["total"]) != 4 || num(email["sent"]) != 3 || email["delivered"] != nil ||
		num(email["opened"]) != 2 || num(email["answered"]) != 1 || num(email["failed"]) != 1 || num(email["response_rate"]) != 33.3 {
		t.Errorf("email funnel = %v", email)
	}
	if num(sms["delivered"]) != 1 || num(sms["opened"]) != 0 {
		t.Errorf("sms funnel = %v", sms)
	}
	total := f.body["total"].(map[string]any)
	if num(total["sent"]) != 4 || total["delivered"] != nil || num(total["answered"]) != 1 {
		t.Errorf("total = %v", total)
	}
}

func TestResultsCommentsWordsAndExport(t *testing.T) {
	h := newHarness(t)
	h.contacts()
	at := h.now.Add(-48 * time.Hour)
	h.seedAnalytics(survey.NPS, "nps", []seeded{
		{"nps", "ada", "email", 10, "Customer support is great", at},
		{"nps", "bo", "email", 2, "客服响应太慢，等了三天", at.Add(time.Minute)},
		{"nps", "cy", "sms", 0, "=HYPERLINK(\"http://evil\") support never answers", at.Add(2 * time.Minute)},
		{"nps", "bo", "sms", 1, "价格太贵，客服响应太慢", at.Add(3 * time.Minute)},
		{"nps", "ada", "sms", 8, "", at.Add(4 * time.Minute)},
	})
	a := h.do("GET", "/v1/results/comments?survey=nps", nil)
	cs := a.body["comments"].([]any)
	if num(a.body["total"]) != 4 || len(cs) != 4 {
		t.Fatalf("comments: %s", a.raw)
	}
	first := cs[0].(map[string]any)
	contact := first["contact"].(map[string]any)
	if num(first["score"]) != 0 || contact["name"] != "Cy" || contact["account"] != "Initech" ||
		contact["attributes"].(map[string]any)["tier"] != "SMB" {
		t.Errorf("worst first: %v", first)
	}
	a = h.do("GET", "/v1/results/comments?survey=nps&category=detractor&account=Globex&limit=1", nil)
	if num(a.body["total"]) != 2 || len(a.body["comments"].([]any)) != 1 || num(a.body["next_offset"]) != 1 {
		t.Errorf("detractors of Globex, one a page: %s", a.raw)
	}
	a = h.do("GET", "/v1/results/comments?survey=nps&sort=newest&q="+url.QueryEscape("太慢"), nil)
	cs = a.body["comments"].([]any)
	if len(cs) != 2 || num(cs[0].(map[string]any)["score"]) != 1 {
		t.Errorf("newest with 太慢: %s", a.raw)
	}
	if a := h.do("GET", "/v1/results/comments?sort=best", nil); a.status != 400 || a.errField() != "sort" {
		t.Errorf("sort=best: %d", a.status)
	}

	a = h.do("GET", "/v1/results/words?survey=nps", nil)
	if a.status != 200 {
		t.Fatalf("words: %d %s", a.status, a.raw)
	}
	det := a.body["categories"].(map[string]any)["detractor"].(map[string]any)
	terms := func(list any) map[string]float64 {
		out := map[string]float64{}
		for _, x := range list.([]any) {
			m := x.(map[string]any)
			out[m["text"].(string)] = num(m["count"])
		}
		return out
	}
	w, p := terms(det["words"]), terms(det["phrases"])
	if num(det["comments"]) != 3 || w["客服"] != 2 || w["太慢"] != 2 || w["support"] != 1 || p["客服响应"] != 2 {
		t.Errorf("detractor words %v, phrases %v", w, p)
	}
	if w["了"] != 0 || w["never"] != 0 {
		t.Errorf("stop words counted: %v", w)
	}
	all := terms(a.body["all"].(map[string]any)["words"])
	if all["support"] != 2 {
		t.Errorf("all words: %v", all)
	}

	resp, err := http.Get(h.srv.URL + "/v1/results/export.csv?survey=nps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("export without a key: %d", resp.StatusCode)
	}
	c := h.do("GET", "/v1/results/export.csv?survey=nps", nil)
	if c.status != 200 || !strings.HasPrefix(c.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(c.header.Get("Content-Disposition"), "responses-nps.csv") {
		t.Fatalf("csv: %d %v", c.status, c.header)
	}
	recs, err := csv.NewReader(strings.NewReader(c.raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(recs[0], ",")
	if !strings.HasSuffix(head, ",attr.plan name,attr.tier") || !strings.Contains(head, "contact_name,contact_email,account,role") {
		t.Errorf("csv header: %s", head)
	}
	if len(recs) != 6 {
		t.Fatalf("csv has %d records, want header + 5", len(recs))
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	evil := recs[3]
	if evil[col["score"]] != "0" || !strings.HasPrefix(evil[col["comment"]], "'=") || evil[col["attr.tier"]] != "SMB" ||
		evil[col["contact_name"]] != "Cy" {
		t.Errorf("third row: %v", evil)
	}
	if recs[1][col["attr.plan name"]] != "Pro" {
		t.Errorf("first row: %v", recs[1])
	}
	j := h.do("GET", "/v1/results/export.json?survey=nps&channel=sms", nil)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(j.raw), &rows); err != nil {
		t.Fatalf("json export: %v: %s", err, j.raw)
	}
	if len(rows) != 3 || rows[0]["contact"].(map[string]any)["name"] != "Cy" || rows[0]["channel"] != "sms" {
		t.Errorf("json export: %v", rows)
	}
	if j := h.do("GET", "/v1/results/export.json?survey=nps&account=nobody", nil); strings.TrimSpace(j.raw) != "[]" {
		t.Errorf("empty json export: %q", j.raw)
	}
}

// CSAT and CES surveys work end to end: the reply page shows their range,
// answers are summarized in their unit, and SMS replies are read in their
// range.
func TestCSATAndCESEndToEnd(t *testing.T) {
	h := newHarness(t)
	for _, body := range []map[string]any{
		{"key": "support", "kind": "csat", "product_name": "Acme Support", "channels": []string{"email", "sms"}},
		{"key": "checkout", "kind": "ces", "product_name": "Acme Billing", "channels": []string{"email", "sms"}},
	} {
		if a := h.do("POST", "/v1/surveys", body); a.status != 201 {
			t.Fatalf("create survey: %d %s", a.status, a.raw)
		}
	}
	ctx := context.Background()
	for i, tc := range []struct {
		survey  string
		options int
		answer  string
	}{{"support", 5, "4"}, {"checkout", 7, "6"}} {
		d := &store.Delivery{ID: fmt.Sprintf("web-%d", i), SurveyKey: tc.survey, ContactID: "ada", Channel: "email",
			Locale: "en", Token: strings.Repeat(fmt.Sprint(i), 22), ExpiresAt: h.now.Add(time.Hour)}
		if _, _, err := h.store.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		page := h.do("GET", "/r/"+d.Token, nil)
		if n := strings.Count(page.raw, `name="score"`); n != tc.options {
			t.Errorf("%s reply page has %d scores, want %d", tc.survey, n, tc.options)
		}
		if r := h.form("/r/"+d.Token, url.Values{"score": {tc.answer}}); r.status != 200 {
			t.Fatalf("%s answer: %d", tc.survey, r.status)
		}
		if r := h.form("/r/"+d.Token, url.Values{"score": {"9"}}); r.status != 400 {
			t.Errorf("%s: score 9 accepted: %d", tc.survey, r.status)
		}
	}
	s := h.do("GET", "/v1/results/summary?survey=support", nil).body["summary"].(map[string]any)
	if num(s["csat"]) != 100 || s["nps"] != nil || num(s["promoters"].(map[string]any)["count"]) != 1 {
		t.Errorf("csat summary = %v", s)
	}
	s = h.do("GET", "/v1/results/summary?survey=checkout", nil).body["summary"].(map[string]any)
	if num(s["ces"]) != 6 || s["nps"] != nil {
		t.Errorf("ces summary = %v", s)
	}
	sc := h.do("GET", "/v1/results/summary?survey=checkout", nil).body["scores"].([]any)
	if len(sc) != 7 || num(sc[0].(map[string]any)["score"]) != 1 {
		t.Errorf("ces scores = %v", sc)
	}
}
