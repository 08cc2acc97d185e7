package storetest

import (
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// analyticsFixture is a small world of answers: two NPS surveys, contacts
// with accounts, roles and attributes (one attribute name with a space),
// deliveries on two channels and two campaigns, answered at known times.
type analyticsFixture struct {
	t   *testing.T
	s   *store.Store
	ids map[string]string // name → delivery ID
}

func newAnalyticsFixture(t *testing.T, s *store.Store) *analyticsFixture {
	f := &analyticsFixture{t: t, s: s, ids: map[string]string{}}
	mustSurvey(t, s, "nps", survey.NPS)
	mustSurvey(t, s, "other", survey.NPS)
	for _, c := range []*store.Contact{
		{ExternalID: "ada", Name: "Ada", Email: "ada@a.example", Account: "A", Role: "admin", Locale: "en",
			Tags: []string{"beta"}, Attributes: map[string]string{"tier": "KA", "plan name": "Pro 2"}},
		{ExternalID: "bo", Name: "Bo", Account: "A", Role: "user", Locale: "zh-CN",
			Attributes: map[string]string{"tier": "KA", "region": "华东"}},
		{ExternalID: "cy", Name: "Cy", Account: "B", Role: "admin", Locale: "en",
			Attributes: map[string]string{"tier": "SMB"}},
	} {
		if _, err := s.UpsertContact(t.Context(), c); err != nil {
			t.Fatalf("UpsertContact: %v", err)
		}
	}
	return f
}

// answer makes a delivery and its response; score < 0 leaves it
// unanswered. contact "gone" has no contact row.
func (f *analyticsFixture) answer(name, surveyKey, contact, channel, locale, campaign string, at time.Time, score int, comment string) {
	f.t.Helper()
	d := newDelivery(surveyKey)
	d.ContactID, d.Channel, d.Locale, d.CampaignID, d.CreatedAt = contact, channel, locale, campaign, at
	mustDelivery(f.t, f.s, d)
	f.ids[name] = d.ID
	if score < 0 {
		return
	}
	if _, err := f.s.SaveResponse(f.t.Context(), &store.Response{DeliveryID: d.ID, Score: score, Comment: comment,
		CreatedAt: at.Add(time.Hour)}); err != nil {
		f.t.Fatalf("SaveResponse %s: %v", name, err)
	}
}

// day is a time on the n-th day of March 2026, UTC.
func day(n, hour int) time.Time { return time.Date(2026, 3, n, hour, 0, 0, 0, time.UTC) }

func (f *analyticsFixture) standard() {
	f.answer("a1", "nps", "ada", "email", "en", "q1", day(2, 8), 10, "Great SUPPORT, fast onboarding")
	f.answer("a2", "nps", "ada", "sms", "en", "q1", day(9, 8), 9, "")
	f.answer("b1", "nps", "bo", "email", "zh-CN", "q1", day(3, 8), 3, "客服响应太慢，100% 不满意")
	f.answer("b2", "nps", "bo", "sms", "zh-CN", "", day(16, 8), 7, "价格太贵")
	f.answer("c1", "nps", "cy", "email", "en", "q2", day(10, 8), 0, "support never answers_me")
	f.answer("c2", "nps", "cy", "email", "en", "q2", day(17, 8), 8, "fine")
	f.answer("g1", "nps", "gone", "email", "en", "", day(18, 8), 6, "who am I")
	f.answer("o1", "other", "ada", "email", "en", "", day(4, 8), 10, "other survey")
	f.answer("u1", "nps", "ada", "email", "en", "q1", day(5, 8), -1, "")
}

func tallyOf(scores ...int) survey.Tally {
	var t survey.Tally
	for _, s := range scores {
		t.Add(s)
	}
	return t
}

func ptr(n int) *int { return &n }

func testAnalyticsSegments(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newAnalyticsFixture(t, s)
	f.standard()
	for _, tc := range []struct {
		name string
		g    store.Segment
		want survey.Tally
	}{
		{"survey", store.Segment{Survey: "nps"}, tallyOf(10, 9, 3, 7, 0, 8, 6)},
		{"every survey", store.Segment{}, tallyOf(10, 9, 3, 7, 0, 8, 6, 10)},
		{"range", store.Segment{Survey: "nps", From: day(3, 9), To: day(10, 9)}, tallyOf(3, 9)},
		{"range edge is exclusive", store.Segment{Survey: "nps", From: day(2, 9), To: day(3, 9)}, tallyOf(10)},
		{"campaign", store.Segment{Survey: "nps", Campaign: "q1"}, tallyOf(10, 9, 3)},
		{"channel", store.Segment{Survey: "nps", Channel: "sms"}, tallyOf(9, 7)},
		{"locale", store.Segment{Survey: "nps", Locale: "zh-CN"}, tallyOf(3, 7)},
		{"account", store.Segment{Survey: "nps", Account: "A"}, tallyOf(10, 9, 3, 7)},
		{"role", store.Segment{Survey: "nps", Role: "admin"}, tallyOf(10, 9, 0, 8)},
		{"attribute", store.Segment{Survey: "nps", Attributes: map[string]string{"tier": "KA"}}, tallyOf(10, 9, 3, 7)},
		{"attributes", store.Segment{Survey: "nps", Attributes: map[string]string{"tier": "KA", "region": "华东"}}, tallyOf(3, 7)},
		{"attribute name with a space", store.Segment{Attributes: map[string]string{"plan name": "Pro 2"}}, tallyOf(10, 9, 10)},
		{"category", store.Segment{Survey: "nps", Category: survey.Detractor}, tallyOf(3, 0, 6)},
		{"scores", store.Segment{Survey: "nps", MinScore: ptr(0), MaxScore: ptr(3)}, tallyOf(3, 0)},
		{"one score", store.Segment{Survey: "nps", MinScore: ptr(7), MaxScore: ptr(7)}, tallyOf(7)},
		{"with comment", store.Segment{Survey: "nps", WithComment: true}, tallyOf(10, 3, 7, 0, 8, 6)},
		{"text ignores case", store.Segment{Survey: "nps", Text: "support"}, tallyOf(10, 0)},
		{"text in Chinese", store.Segment{Text: "太慢"}, tallyOf(3)},
		{"text % is literal", store.Segment{Text: "100%"}, tallyOf(3)},
		{"text _ is literal", store.Segment{Text: "s_m"}, tallyOf(0)},
		{"nothing", store.Segment{Survey: "nps", Account: "nobody"}, survey.Tally{}},
	} {
		got, err := s.SegmentTally(ctx, tc.g)
		if err != nil {
			t.Errorf("%s: SegmentTally: %v", tc.name, err)
			continue
		}
		wantEqual(t, tc.name, got, tc.want)
	}
	if _, err := s.SegmentTally(ctx, store.Segment{Attributes: map[string]string{`a"b`: "x"}}); err == nil {
		t.Error("SegmentTally with a quote in an attribute name succeeded")
	}
}

func testAnalyticsBreakdown(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newAnalyticsFixture(t, s)
	f.standard()
	g := store.Segment{Survey: "nps"}
	for _, tc := range []struct {
		by   string
		want []store.GroupTally
	}{
		{store.ByChannel, []store.GroupTally{{Key: "email", Tally: tallyOf(10, 3, 0, 8, 6)}, {Key: "sms", Tally: tallyOf(9, 7)}}},
		{store.ByAccount, []store.GroupTally{{Key: "", Tally: tallyOf(6)}, {Key: "A", Tally: tallyOf(10, 9, 3, 7)}, {Key: "B", Tally: tallyOf(0, 8)}}},
		{store.ByRole, []store.GroupTally{{Key: "", Tally: tallyOf(6)}, {Key: "admin", Tally: tallyOf(10, 9, 0, 8)}, {Key: "user", Tally: tallyOf(3, 7)}}},
		{store.ByCampaign, []store.GroupTally{{Key: "", Tally: tallyOf(7, 6)}, {Key: "q1", Tally: tallyOf(10, 9, 3)}, {Key: "q2", Tally: tallyOf(0, 8)}}},
		{store.ByLocale, []store.GroupTally{{Key: "en", Tally: tallyOf(10, 9, 0, 8, 6)}, {Key: "zh-CN", Tally: tallyOf(3, 7)}}},
		{"attr.tier", []store.GroupTally{{Key: "", Tally: tallyOf(6)}, {Key: "KA", Tally: tallyOf(10, 9, 3, 7)}, {Key: "SMB", Tally: tallyOf(0, 8)}}},
		{"attr.region", []store.GroupTally{{Key: "", Tally: tallyOf(10, 9, 0, 8, 6)}, {Key: "华东", Tally: tallyOf(3, 7)}}},
	} {
		got, err := s.BreakdownTally(ctx, g, tc.by)
		if err != nil {
			t.Errorf("BreakdownTally by %s: %v", tc.by, err)
			continue
		}
		wantEqual(t, "breakdown by "+tc.by, got, tc.want)
	}
	got, err := s.BreakdownTally(ctx, store.Segment{}, store.BySurvey)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "breakdown by survey", got, []store.GroupTally{
		{Key: "nps", Tally: tallyOf(10, 9, 3, 7, 0, 8, 6)}, {Key: "other", Tally: tallyOf(10)}})
	// A breakdown filtered by the attribute it groups by.
	got, err = s.BreakdownTally(ctx, store.Segment{Survey: "nps", Attributes: map[string]string{"tier": "KA"}}, "attr.tier")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "breakdown by tier of KA", got, []store.GroupTally{{Key: "KA", Tally: tallyOf(10, 9, 3, 7)}})
	for _, by := range []string{"score", "attr.", `attr.a"b`, "c.name"} {
		if _, err := s.BreakdownTally(ctx, g, by); err == nil {
			t.Errorf("BreakdownTally by %q succeeded", by)
		}
	}
}

func testAnalyticsPeriods(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newAnalyticsFixture(t, s)
	shanghai := time.FixedZone("CST", 8*3600)
	// Answered an hour after each time: 2026-03-31 16:30 UTC is April 1st
	// 00:30 in Shanghai.
	f.answer("m1", "nps", "ada", "email", "en", "", time.Date(2026, 3, 31, 15, 30, 0, 0, time.UTC), 10, "")
	f.answer("m2", "nps", "bo", "email", "en", "", time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC), 2, "")
	f.answer("m3", "nps", "cy", "email", "en", "", time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), 9, "")
	f.answer("m4", "nps", "cy", "sms", "en", "", time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), 8, "")
	bounds := []time.Time{
		time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai),
		time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai),
		time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai),
		time.Date(2026, 5, 1, 0, 0, 0, 0, shanghai),
	}
	got, err := s.PeriodTally(ctx, store.Segment{Survey: "nps"}, bounds)
	if err != nil {
		t.Fatal(err)
	}
	// m3 (Feb 28 17:00 UTC) is March 1st in Shanghai; m4 is after the end.
	wantEqual(t, "monthly in Shanghai", got, []survey.Tally{{}, tallyOf(9, 2), tallyOf(10)})

	got, err = s.PeriodTally(ctx, store.Segment{Survey: "nps", Channel: "email"}, bounds[1:3])
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "one period with a segment", got, []survey.Tally{tallyOf(9, 2)})

	if _, err := s.PeriodTally(ctx, store.Segment{}, bounds[:1]); err == nil {
		t.Error("PeriodTally with one bound succeeded")
	}
	if _, err := s.PeriodTally(ctx, store.Segment{}, []time.Time{bounds[1], bounds[0]}); err == nil {
		t.Error("PeriodTally with descending bounds succeeded")
	}
}

func testAnalyticsFunnel(t *testing.T, s *store.Store) {
	ctx := t.Context()
	newAnalyticsFixture(t, s)
	mk := func(channel, contact string, to ...store.DeliveryStatus) string {
		t.Helper()
		d := newDelivery("nps")
		d.Channel, d.ContactID = channel, contact
		mustDelivery(t, s, d)
		from := store.StatusQueued
		for _, st := range to {
			if ok, err := s.Transition(ctx, d.ID, []store.DeliveryStatus{from}, st, store.Update{Reason: "why"}); err != nil || !ok {
				t.Fatalf("Transition %s → %s = %v, %v", from, st, ok, err)
			}
			from = st
		}
		return d.ID
	}
	answer := func(id string, score int) {
		t.Helper()
		if _, err := s.SaveResponse(ctx, &store.Response{DeliveryID: id, Score: score}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(id string) {
		t.Helper()
		if err := s.MarkOpened(ctx, id, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// email: no delivery receipts.
	mk("email", "ada")
	mk("email", "ada", store.StatusSending, store.StatusFailed)
	mk("email", "bo", store.StatusSuppressed)
	e1 := mk("email", "ada", store.StatusSending, store.StatusSent)
	e2 := mk("email", "bo", store.StatusSending, store.StatusSent)
	e3 := mk("email", "cy", store.StatusSending, store.StatusSent)
	open(e1)
	open(e1) // twice is once
	open(e2)
	answer(e2, 9)
	_ = e3
	// sms: receipts; one answered by text without opening the page, one
	// answered before the worker recorded the send.
	mk("sms", "ada", store.StatusSending, store.StatusSent)
	s2 := mk("sms", "bo", store.StatusSending, store.StatusSent, store.StatusDelivered)
	s3 := mk("sms", "cy", store.StatusSending, store.StatusSent, store.StatusDelivered)
	answer(s3, 3)
	s4 := mk("sms", "cy")
	answer(s4, 10)
	if _, err := s.Transition(ctx, s4, []store.DeliveryStatus{store.StatusQueued}, store.StatusResponded, store.Update{}); err != nil {
		t.Fatal(err)
	}
	_ = s2
	// A reminder of e3 is not a survey message of its own.
	r := newDelivery("nps")
	r.Channel, r.ContactID, r.ReminderOf, r.ReminderN = "email", "cy", e3, 1
	mustDelivery(t, s, r)
	if _, err := s.Transition(ctx, r.ID, []store.DeliveryStatus{store.StatusQueued}, store.StatusSent, store.Update{}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Funnel(ctx, store.Segment{Survey: "nps"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "funnel", got, []store.FunnelStep{
		{Channel: "email", Total: 6, Sent: 3, Delivered: nil, Opened: 2, Answered: 1, Pending: 1, Failed: 1, Suppressed: 1},
		{Channel: "sms", Total: 4, Sent: 4, Delivered: ptr(3), Opened: 2, Answered: 2, Pending: 0},
	})
	got, err = s.Funnel(ctx, store.Segment{Survey: "nps", Account: "B", Channel: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "funnel of account B on sms", got, []store.FunnelStep{
		{Channel: "sms", Total: 2, Sent: 2, Delivered: ptr(2), Opened: 2, Answered: 2, Pending: 0},
	})
	got, err = s.Funnel(ctx, store.Segment{Survey: "other"})
	if err != nil || len(got) != 0 {
		t.Errorf("funnel of a survey with no deliveries = %v, %v", got, err)
	}
	if err := s.MarkOpened(ctx, "missing", time.Time{}); err != nil {
		t.Errorf("MarkOpened of a missing delivery: %v", err)
	}
	rows, _, err := s.ListDeliveries(ctx, store.DeliveryQuery{Survey: "nps", Channel: "email", Status: store.StatusSent})
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, d := range rows {
		if d.OpenedAt != nil {
			opened++
			if d.OpenedAt.Location() != time.UTC || time.Since(*d.OpenedAt) > time.Minute {
				t.Errorf("OpenedAt = %v", d.OpenedAt)
			}
		}
	}
	if len(rows) != 4 || opened != 2 { // with the reminder: a delivery of its own here
		t.Errorf("sent email deliveries: %d, %d opened; want 4, 2", len(rows), opened)
	}
}

func testAnalyticsComments(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newAnalyticsFixture(t, s)
	f.standard()
	rows, total, err := s.ListComments(ctx, store.Segment{Survey: "nps"}, store.WorstFirst, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range rows {
		order = append(order, r.Comment)
	}
	wantEqual(t, "worst first", order, []string{"support never answers_me", "客服响应太慢，100% 不满意", "who am I",
		"价格太贵", "fine", "Great SUPPORT, fast onboarding"})
	if total != 6 {
		t.Errorf("total = %d, want 6", total)
	}
	b := rows[1]
	if b.ContactName != "Bo" || b.Account != "A" || b.Role != "user" || b.CampaignID != "q1" || b.Attributes["region"] != "华东" ||
		b.DeliveryID != f.ids["b1"] || b.Category != survey.Detractor || !b.CreatedAt.Equal(day(3, 9)) {
		t.Errorf("Bo's comment = %+v", b)
	}
	if g := rows[2]; g.ContactID != "gone" || g.ContactName != "" || g.Attributes != nil {
		t.Errorf("comment of an erased contact = %+v", g)
	}
	if a := rows[5]; a.ContactEmail != "ada@a.example" || len(a.Tags) != 1 || a.Tags[0] != "beta" {
		t.Errorf("Ada's comment = %+v", a)
	}

	page, total, err := s.ListComments(ctx, store.Segment{Survey: "nps"}, store.NewestFirst, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if total != 6 || len(page) != 2 || page[0].Comment != "fine" || page[1].Comment != "价格太贵" {
		t.Errorf("newest first, 2 after 1: total %d, %+v", total, page)
	}
	texts, err := s.CommentTexts(ctx, store.Segment{Survey: "nps", Category: survey.Detractor}, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "newest detractor comments", texts, []store.CommentText{
		{Category: survey.Detractor, Text: "who am I"}, {Category: survey.Detractor, Text: "support never answers_me"}})
	det, total, err := s.ListComments(ctx, store.Segment{Survey: "nps", Category: survey.Detractor, Account: "A"}, store.WorstFirst, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(det) != 1 || det[0].Score != 3 {
		t.Errorf("detractors of account A: %d, %+v", total, det)
	}
}

func testAnalyticsExport(t *testing.T, s *store.Store) {
	ctx := t.Context()
	f := newAnalyticsFixture(t, s)
	f.standard()
	var (
		all   []*store.AnalyticsRow
		after string
		pages int
	)
	for {
		rows, next, err := s.ExportResponses(ctx, store.Segment{Survey: "nps"}, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		pages++
		if next == "" {
			break
		}
		after = next
	}
	if len(all) != 7 || pages != 3 {
		t.Fatalf("export: %d rows in %d pages, want 7 in 3", len(all), pages)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.Before(all[i-1].CreatedAt) {
			t.Errorf("export out of order at %d", i)
		}
	}
	if all[0].DeliveryID != f.ids["a1"] || all[0].Attributes["plan name"] != "Pro 2" || all[0].Score != 10 {
		t.Errorf("first exported row = %+v", all[0])
	}
	if _, _, err := s.ExportResponses(ctx, store.Segment{}, "missing", 3); err == nil {
		t.Error("ExportResponses with an unknown cursor succeeded")
	}
	names, err := s.AttributeNames(ctx, store.Segment{Survey: "nps"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "attribute names", names, []string{"plan name", "region", "tier"})
	names, err = s.AttributeNames(ctx, store.Segment{Survey: "nps", Account: "B"})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "attribute names of account B", names, []string{"tier"})

	list, total, err := s.ListDeliveries(ctx, store.DeliveryQuery{Survey: "nps", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if total != 8 || len(list) != 2 || list[0].ID != f.ids["g1"] || list[1].ContactName != "Cy" || list[1].Account != "B" {
		t.Errorf("ListDeliveries: total %d, %+v", total, list)
	}
	list, total, err = s.ListDeliveries(ctx, store.DeliveryQuery{Campaign: "q1", Offset: 3})
	if err != nil {
		t.Fatal(err)
	}
	if total != 4 || len(list) != 1 || list[0].ID != f.ids["a1"] {
		t.Errorf("ListDeliveries of q1 from 3: total %d, %+v", total, list)
	}
}
