package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// hrefs returns the query of every link whose <a> tag matches attr (a
// regexp on the tag's text after the href), keyed by that match's group.
func hrefs(t *testing.T, body, attr string) map[string]url.Values {
	t.Helper()
	re := regexp.MustCompile(`<a href="([^"]*)"[^>]*` + attr)
	out := map[string]url.Values{}
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("link %q: %v", m[1], err)
		}
		k := ""
		if len(m) > 2 {
			k = m[2]
		}
		out[k] = u.Query()
	}
	return out
}

// hidden returns the hidden fields of the form with the class.
func hidden(t *testing.T, body, class string) url.Values {
	t.Helper()
	start := strings.Index(body, `<form class="`+class)
	if start < 0 {
		t.Fatalf("no form %s", class)
	}
	form := body[start:]
	form = form[:strings.Index(form, "</form>")]
	out := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(form, -1) {
		out.Add(m[1], html.UnescapeString(m[2]))
	}
	return out
}

// visible is the page's text and the attributes people read (titles,
// placeholders, labels), without tags, classes or data attributes.
func visible(body string) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`(?:title|placeholder|aria-label)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		b.WriteString(m[1] + "\n")
	}
	b.WriteString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " "))
	return html.UnescapeString(b.String())
}

// metric reads a data-metric's data-value (the first one).
func metric(body, name string) (string, bool) {
	m := regexp.MustCompile(`data-metric="` + regexp.QuoteMeta(name) + `" data-value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

func wantParams(t *testing.T, what string, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s: %s=%q, want %q (link %v)", what, k, got.Get(k), v, got)
		}
	}
}

// On the comments page every link that stays on the page keeps the
// account, attribute, score and text filters; nothing says "filtered"
// without a way to clear it.
func TestCommentsLinksKeepFilters(t *testing.T) {
	st := testenv.Store(t)
	seed(t, st, time.Now())
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	resp, body := s.get(c, "/dashboard/comments?survey=onboarding&range=all&attr.tier=KA&score=0-9&sort=newest")
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	kept := map[string]string{"survey": "onboarding", "range": "all", "attr.tier": "KA", "score": "0-9", "sort": "newest"}

	tabs := hrefs(t, body, `data-category="([^"]*)"`)
	if len(tabs) != 4 {
		t.Fatalf("category tabs: %v", tabs)
	}
	for cat, q := range tabs {
		wantParams(t, "category tab "+cat, q, kept)
		if q.Get("category") != cat || q.Has("offset") {
			t.Errorf("category tab %q: %v", cat, q)
		}
	}
	words := hrefs(t, body, `>([^<]+)<span>\d+</span></a>`)
	if len(words) == 0 {
		t.Fatal("no word links")
	}
	for w, q := range words {
		wantParams(t, "word link "+w, q, kept)
		if q.Get("q") != html.UnescapeString(w) {
			t.Errorf("word link %q searches %q", w, q.Get("q"))
		}
	}
	accounts := hrefs(t, body, `data-account="([^"]*)"`)
	if len(accounts) == 0 {
		t.Fatal("no account links")
	}
	for a, q := range accounts {
		wantParams(t, "account link "+a, q, kept)
		if q.Get("account") != html.UnescapeString(a) {
			t.Errorf("account link %q filters %q", a, q.Get("account"))
		}
	}
	next := hrefs(t, body, `>Next`)[""]
	if next == nil {
		t.Fatalf("no next page (total %v)", body[strings.Index(body, "comments-total"):][:60])
	}
	wantParams(t, "next page", next, map[string]string{"attr.tier": "KA", "score": "0-9", "sort": "newest", "offset": "25"})
	// The survey form and the filter form carry the filters too.
	wantParams(t, "survey form", hidden(t, body, "toolbar"), map[string]string{"attr.tier": "KA", "score": "0-9", "sort": "newest"})
	if f := hidden(t, body, "filters"); f.Get("attr.tier") != "KA" || f.Has("score") || f.Has("sort") || f.Has("q") {
		t.Errorf("filter form's hidden fields %v: the filters, not its own fields", f)
	}
	// The navigation starts afresh on other pages.
	for _, q := range hrefs(t, body, `class="tab`) {
		if q.Has("attr.tier") || q.Has("score") {
			t.Errorf("navigation keeps a comments filter: %v", q)
		}
	}
	// The active filter shows, with a link that clears it alone.
	if !strings.Contains(body, `data-filter="attr.tier">tier: KA`) {
		t.Error("no chip for attr.tier")
	}
	clear := hrefs(t, body, `class="chip-x"`)[""]
	if clear == nil || clear.Has("attr.tier") || clear.Get("score") != "0-9" || clear.Get("survey") != "onboarding" {
		t.Errorf("clear attr.tier: %v", clear)
	}

	// Two filters: each clears alone, "Clear filters" clears both.
	_, body = s.get(c, "/dashboard/comments?survey=onboarding&range=all&account=Globex&attr.region=%E5%8D%8E%E4%B8%9C&category=detractor")
	if !strings.Contains(body, `data-filter="account">Account: Globex`) || !strings.Contains(body, `data-filter="attr.region">region: 华东`) {
		t.Error("no chips for account and attr.region")
	}
	all := hrefs(t, body, `class="clear-all"`)[""]
	if all == nil || all.Has("account") || all.Has("attr.region") || all.Get("category") != "detractor" {
		t.Errorf("clear filters: %v", all)
	}
	for _, q := range hrefs(t, body, `data-category="([^"]*)"`) {
		wantParams(t, "category tab", q, map[string]string{"account": "Globex", "attr.region": "华东"})
	}
}

// deliver writes a delivery of survey s in a status.
func deliver(t *testing.T, st *store.Store, id, s, campaign, channel string, status store.DeliveryStatus, reason string) {
	t.Helper()
	d := &store.Delivery{ID: id, SurveyKey: s, ContactID: "c-" + id, Channel: channel, Address: id + "@example.com",
		Token: "tok-" + id + "-0123456789", Status: status, Reason: reason, CampaignID: campaign, Locale: "en"}
	if status != store.StatusQueued && status != store.StatusDeferred && status != store.StatusFailed && status != store.StatusSuppressed {
		now := time.Now()
		d.SentAt = &now
	}
	if _, _, err := st.CreateDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func TestCampaignsPageNumbers(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	if err := st.CreateSurvey(ctx, &store.Survey{Key: "rel", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*store.Campaign{
		{ID: "cmp-a", Name: "Spring relationship NPS", SurveyKey: "rel"},
		{ID: "cmp-b", Name: "Not started", SurveyKey: "rel"},
	} {
		if err := st.SaveCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, d := range []struct {
		status store.DeliveryStatus
		reason string
		count  int
	}{
		{store.StatusResponded, "", 3}, {store.StatusSent, "", 2}, {store.StatusDelivered, "", 1},
		{store.StatusQueued, "", 1}, {store.StatusDeferred, "quiet_hours", 1}, {store.StatusFailed, "550 mailbox unavailable", 1},
		{store.StatusSuppressed, "opted_out", 1}, {store.StatusSuppressed, "fatigue", 1},
	} {
		for range d.count {
			n++
			deliver(t, st, fmt.Sprintf("a%02d", n), "rel", "cmp-a", "email", d.status, d.reason)
		}
	}
	deliver(t, st, "other", "rel", "", "email", store.StatusResponded, "") // not a campaign's
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	_, body := s.get(c, "/dashboard/campaigns")
	section := func(id string) string {
		i := strings.Index(body, `data-campaign="`+id+`"`)
		if i < 0 {
			t.Fatalf("no campaign %s", id)
		}
		rest := body[i:]
		return rest[:strings.Index(rest, "</section>")]
	}
	a := section("cmp-a")
	for name, want := range map[string]string{"answered": "3", "sent": "3", "waiting": "2", "failed": "3", "total": "11"} {
		if got, _ := metric(a, name); got != want {
			t.Errorf("cmp-a %s = %q, want %s", name, got, want)
		}
	}
	if !strings.Contains(a, `data-metric="response_rate">50.0%`) || !strings.Contains(a, "fatigue 1, opted_out 1") {
		t.Errorf("cmp-a rate or suppression reasons:\n%s", a)
	}
	if link := hrefs(t, a, `>Deliveries`)[""]; link.Get("campaign") != "cmp-a" || link.Get("survey") != "rel" {
		t.Errorf("cmp-a deliveries link %v", link)
	}
	b := section("cmp-b")
	if got, _ := metric(b, "total"); got != "0" || !strings.Contains(b, `data-metric="response_rate">–`) {
		t.Errorf("cmp-b: total %q\n%s", got, b)
	}
}

func TestDeliveriesPageNumbersAndFilters(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	if err := st.CreateSurvey(ctx, &store.Survey{Key: "tx", Kind: survey.NPS}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCampaign(ctx, &store.Campaign{ID: "cmp-q", Name: "Quarterly NPS", SurveyKey: "tx"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	add := func(campaign, channel string, status store.DeliveryStatus, reason string, count int) {
		for range count {
			n++
			deliver(t, st, fmt.Sprintf("d%03d", n), "tx", campaign, channel, status, reason)
		}
	}
	add("cmp-q", "email", store.StatusResponded, "", 40)
	add("cmp-q", "email", store.StatusFailed, "550 5.1.1 mailbox unavailable", 15)
	add("cmp-q", "sms", store.StatusResponded, "", 7)
	add("", "email", store.StatusResponded, "", 5)
	add("", "sms", store.StatusSuppressed, "opted_out", 3)
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	for _, tc := range []struct {
		query string
		total string
		rows  int
	}{
		{"", "70", 50},
		{"status=failed", "15", 15},
		{"channel=sms", "10", 10},
		{"campaign=cmp-q", "62", 50},
		{"campaign=cmp-q&channel=email&status=responded", "40", 40},
		{"campaign=cmp-q&channel=email&status=responded&offset=25", "40", 15},
	} {
		_, body := s.get(c, "/dashboard/deliveries?survey=tx&"+tc.query)
		got, _ := metric(body, "deliveries-total")
		if rows := strings.Count(body, `<span class="pill st-`); got != tc.total || rows != tc.rows {
			t.Errorf("%s: total %s, %d rows; want %s, %d", tc.query, got, rows, tc.total, tc.rows)
		}
	}
	_, body := s.get(c, "/dashboard/deliveries?survey=tx&status=failed")
	if !strings.Contains(body, "550 5.1.1 mailbox unavailable") {
		t.Error("failed deliveries without their reason")
	}

	_, body = s.get(c, "/dashboard/deliveries?survey=tx&campaign=cmp-q&channel=email")
	kept := map[string]string{"survey": "tx", "campaign": "cmp-q", "channel": "email"}
	tabs := hrefs(t, body, `data-status="([^"]*)"`)
	if len(tabs) != 8 {
		t.Fatalf("status tabs: %v", tabs)
	}
	for st, q := range tabs {
		wantParams(t, "status tab "+st, q, kept)
		if q.Get("status") != st {
			t.Errorf("status tab %q: %v", st, q)
		}
	}
	next := hrefs(t, body, `>Next`)[""]
	wantParams(t, "next page", next, map[string]string{"campaign": "cmp-q", "channel": "email", "offset": "50"})
	wantParams(t, "survey form", hidden(t, body, "toolbar"), map[string]string{"campaign": "cmp-q", "channel": "email"})
	if !strings.Contains(body, `data-filter="campaign">Campaign: Quarterly NPS`) || !strings.Contains(body, `data-filter="channel">Channel: email`) {
		t.Error("the page does not say it is filtered by campaign and channel")
	}
	for _, q := range hrefs(t, body, `class="chip-x"`) {
		if q.Has("campaign") == q.Has("channel") {
			t.Errorf("a chip's clear link clears both or neither: %v", q)
		}
	}
	if all := hrefs(t, body, `class="clear-all"`)[""]; all == nil || all.Has("campaign") || all.Has("channel") || all.Get("survey") != "tx" {
		t.Errorf("clear filters: %v", all)
	}
	_, body = s.get(c, "/dashboard/deliveries?survey=tx")
	if strings.Contains(body, "data-filters") {
		t.Error("an unfiltered page shows filters")
	}
}

// respond writes an answer given at a time.
func respond(t *testing.T, st *store.Store, id, s string, score int, at time.Time) {
	t.Helper()
	d := &store.Delivery{ID: id, SurveyKey: s, ContactID: "c-" + id, Channel: "email", Token: "tok-" + id + "-0123456789",
		Status: store.StatusResponded, CreatedAt: at.Add(-time.Hour)}
	if _, _, err := st.CreateDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveResponse(context.Background(), &store.Response{DeliveryID: id, Score: score, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
}

// The overview's headline is the last complete period, and says why a
// change is not significant: too few answers is not "within the margin".
func TestOverviewHeadlineSignificance(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	for _, k := range []string{"s", "new"} {
		if err := st.CreateSurvey(ctx, &store.Survey{Key: k, Kind: survey.NPS}); err != nil {
			t.Fatal(err)
		}
	}
	// February: 20 detractors. March: 5 promoters (−100 → +100, on five
	// answers). April, still going on: 30 passives.
	for i := range 20 {
		respond(t, st, fmt.Sprintf("f%d", i), "s", 0, time.Date(2026, 2, 10, 9, i, 0, 0, time.UTC))
	}
	for i := range 5 {
		respond(t, st, fmt.Sprintf("m%d", i), "s", 10, time.Date(2026, 3, 10, 9, i, 0, 0, time.UTC))
	}
	for i := range 30 {
		respond(t, st, fmt.Sprintf("a%d", i), "s", 8, time.Date(2026, 4, 10, 9, i, 0, 0, time.UTC))
		respond(t, st, fmt.Sprintf("n%d", i), "new", 10, time.Date(2026, 4, 10, 9, i, 0, 0, time.UTC))
	}
	s := newSite(t, st, testRedis(t), []string{key})
	s.now.Store(time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC).Unix())
	c, _ := s.login(key)
	for _, lang := range []string{"en", "zh-CN"} {
		_, body := s.get(c, "/dashboard/?survey=s&range=all", "Accept-Language", lang)
		if h, _ := metric(body, "headline"); h != "2026-03" {
			t.Errorf("%s: headline %q, want the last complete month", lang, h)
		}
		if sig, _ := metric(body, "significance"); sig != "too_few" {
			t.Errorf("%s: significance %q", lang, sig)
		}
		want, not := "too few answers to tell", "within the margin"
		if lang == "zh-CN" {
			want, not = "回答太少，无法判断", "在误差范围内"
		}
		if !strings.Contains(body, want) || strings.Contains(body, not) {
			t.Errorf("%s: the headline does not say there are too few answers", lang)
		}
	}
	// Only the current month has answers: it is the headline, marked.
	_, body := s.get(c, "/dashboard/?survey=new&range=all")
	if h, _ := metric(body, "headline"); h != "2026-04" || !strings.Contains(body, "(so far)") {
		t.Errorf("a survey of this month: headline %q", h)
	}
}

// CSAT and CES pages speak of their own categories, in both languages.
func TestKindWords(t *testing.T) {
	st := testenv.Store(t)
	seed(t, st, time.Now())
	s := newSite(t, st, testRedis(t), []string{key})
	c, _ := s.login(key)
	for _, tc := range []struct {
		survey, lang string
		want         []string
	}{
		{"onboarding", "en", []string{"What detractors say", "All detractor comments"}},
		{"support", "en", []string{"What dissatisfied customers say", "All dissatisfied comments", "Dissatisfied"}},
		{"checkout", "en", []string{"What customers who found it difficult say", "Difficult"}},
		{"onboarding", "zh-CN", []string{"贬损者在说什么"}},
		{"support", "zh-CN", []string{"不满意的客户在说什么", "查看全部不满意的评论"}},
		{"checkout", "zh-CN", []string{"觉得困难的客户在说什么", "困难"}},
	} {
		_, body := s.get(c, "/dashboard/?range=all&survey="+tc.survey, "Accept-Language", tc.lang)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s overview lacks %q", tc.survey, tc.lang, w)
			}
		}
		if words := visible(body); tc.survey != "onboarding" && (strings.Contains(words, "etractor") || strings.Contains(words, "贬损") ||
			strings.Contains(words, "romoter") || strings.Contains(words, "推荐者")) {
			t.Errorf("%s %s overview speaks of NPS categories", tc.survey, tc.lang)
		}
		_, body = s.get(c, "/dashboard/comments?range=all&survey="+tc.survey, "Accept-Language", tc.lang)
		if words := visible(body); tc.survey != "onboarding" && (strings.Contains(words, "etractor") || strings.Contains(words, "0-6") ||
			strings.Contains(words, "贬损")) {
			t.Errorf("%s %s comments speak of NPS categories or scores", tc.survey, tc.lang)
		}
	}
}
