package dashboard_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// Comments people write, by category, in English and Chinese.
var commentPool = map[survey.Category][]string{
	survey.Promoter: {
		"Onboarding was smooth and the customer success team was very professional.",
		"Great product, the reports save us hours every week.",
		"Support answered within minutes. Great support team!",
		"Easy to use, our whole team adopted it in a week.",
		"The new dashboard is fantastic and fast.",
		"部署很顺利，客户成功团队非常专业",
		"报表功能很强大，节省了大量时间",
		"客服响应很快，问题当天就解决了",
		"界面简洁，上手很容易",
	},
	survey.Passive: {
		"Good product but the price is a bit high.",
		"Reports are useful, exporting to Excel could be easier.",
		"Mostly fine, the mobile app needs work.",
		"价格有点贵，但是功能不错",
		"报表导出还可以更方便",
		"整体还行，移动端体验一般",
	},
	survey.Detractor: {
		"Support response is too slow, waited three days for a reply.",
		"The SSO login keeps failing and support response is slow.",
		"Too expensive for what we get. Price went up again.",
		"Reports export keeps timing out on large accounts.",
		"Billing errors two months in a row, very frustrating.",
		"客服响应太慢了，等了三天才有人回复",
		"价格太贵，性价比不高",
		"报表导出经常出错，影响我们的月度汇报",
		"单点登录经常失败，客服响应太慢",
		"界面卡顿，加载报表要等很久",
	},
}

var (
	accounts = []string{"Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises", "Hooli", "Soylent", "Tyrell"}
	roles    = []string{"admin", "user", "decision_maker"}
	tiers    = []string{"KA", "MM", "SMB"}
	regions  = []string{"华东", "华北", "North America", "Europe"}
	names    = []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "王芳", "李娜", "张伟", "Linus Pauling",
		"Marie Curie", "刘洋", "陈静", "Edsger Dijkstra", "Barbara Liskov", "赵磊", "Ken Thompson", "Frances Allen"}
)

// seed writes a year of realistic results: contacts with accounts, roles
// and attributes; NPS deliveries on email and SMS that were sent,
// delivered, opened and answered (getting better over the year), with
// comments in English and Chinese; a CSAT and a CES survey; two campaigns.
// It goes through the store, because only an import may back-date an
// answer.
func seed(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 42))
	for _, sv := range []*store.Survey{
		{Key: "onboarding", Kind: survey.NPS, ProductName: "Acme Cloud", Channels: []string{"email", "sms"}},
		{Key: "support", Kind: survey.CSAT, ProductName: "Acme Support", Channels: []string{"email"}},
		{Key: "checkout", Kind: survey.CES, ProductName: "Acme Billing", Channels: []string{"email"}},
	} {
		if err := st.CreateSurvey(ctx, sv); err != nil {
			t.Fatal(err)
		}
	}
	var contacts []*store.Contact
	for i := range 64 {
		c := &store.Contact{
			ExternalID: fmt.Sprintf("c-%03d", i), Name: names[i%len(names)],
			Email:   fmt.Sprintf("person%d@customer.example", i),
			Phone:   fmt.Sprintf("+1555010%04d", i),
			Account: accounts[i%len(accounts)], Role: roles[i%len(roles)],
			Attributes: map[string]string{"tier": tiers[(i/3)%len(tiers)], "region": regions[i%len(regions)]},
		}
		if i%3 == 1 {
			c.Locale = "zh-CN"
		} else {
			c.Locale = "en"
		}
		if _, err := st.UpsertContact(ctx, c); err != nil {
			t.Fatal(err)
		}
		contacts = append(contacts, c)
	}
	for _, c := range []*store.Campaign{
		{ID: "cmp-q-rel", Name: "Quarterly relationship NPS", SurveyKey: "onboarding", Status: store.CampaignRunning,
			Schedule: campaign.Schedule{Kind: "quarterly", TimeZone: "Asia/Shanghai"}, Runs: 3},
		{ID: "cmp-kickoff", Name: "Kick-off follow-up", SurveyKey: "onboarding", Status: store.CampaignCompleted,
			Schedule: campaign.Schedule{Kind: "once"}, Runs: 1},
	} {
		if err := st.SaveCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		// Its runs so far, each done; the quarterly one has a next.
		for n := 1; n <= c.Runs; n++ {
			var next *time.Time
			if c.Status == store.CampaignRunning && n == c.Runs {
				at := now.AddDate(0, 0, 30)
				next = &at
			}
			run, _, err := st.StartRun(ctx, c, n, now.AddDate(0, 0, -90*(c.Runs-n)-60), next)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.FinishRun(ctx, run.ID, "done"); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 0
	deliver := func(surveyKey string, kind survey.Kind, at time.Time, progress float64, campaignID string) {
		n++
		c := contacts[rng.IntN(len(contacts))]
		channel := "email"
		if surveyKey == "onboarding" && rng.Float64() < 0.4 {
			channel = "sms"
		}
		d := &store.Delivery{
			ID: fmt.Sprintf("seed-%04d", n), SurveyKey: surveyKey, ContactID: c.ExternalID, Channel: channel,
			Address: c.Email, Locale: c.Locale, Token: fmt.Sprintf("seedtoken%013d", n), Source: "trigger",
			CampaignID: campaignID, CreatedAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour),
		}
		if campaignID != "" {
			d.Source = "campaign"
		}
		if channel == "sms" {
			d.Address = c.Phone
		}
		sent := at.Add(time.Minute)
		roll := rng.Float64()
		answered := false
		switch {
		case at.After(now.Add(-2 * time.Hour)):
			d.Status = store.StatusQueued
		case roll < 0.04:
			d.Status, d.Reason = store.StatusFailed, "550 5.1.1 mailbox unavailable"
		case roll < 0.07:
			d.Status, d.Reason = store.StatusSuppressed, "opted_out"
		case roll < 0.62:
			d.Status, d.SentAt, d.RespondedAt = store.StatusResponded, &sent, &sent
			answered = true
		default:
			d.Status, d.SentAt = store.StatusSent, &sent
			if channel == "sms" {
				d.Status, d.DeliveredAt = store.StatusDelivered, &sent
			}
		}
		if answered && channel == "sms" {
			d.DeliveredAt = &sent
		}
		if _, _, err := st.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if d.Status == store.StatusSent || d.Status == store.StatusDelivered || answered {
			if answered && channel == "email" || (!answered && rng.Float64() < 0.3) {
				if err := st.MarkOpened(ctx, d.ID, sent.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !answered {
			return
		}
		score := pickScore(rng, kind, progress)
		cat := kind.CategoryOf(score)
		comment := ""
		if rng.Float64() < 0.7 {
			pool := commentPool[cat]
			comment = pool[rng.IntN(len(pool))]
		}
		var may *bool
		if cat == survey.Detractor {
			yes := rng.Float64() < 0.6
			may = &yes
		}
		if _, err := st.SaveResponse(ctx, &store.Response{DeliveryID: d.ID, Score: score, Comment: comment,
			MayContact: may, CreatedAt: sent.Add(time.Duration(rng.IntN(48)) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// A year of onboarding surveys, more each month, getting better.
	for day := 360; day >= 0; day -= 2 {
		at := now.AddDate(0, 0, -day).Add(-time.Duration(rng.IntN(600)) * time.Minute)
		progress := 1 - float64(day)/360
		for range 1 + int(2*progress) {
			campaignID := ""
			switch {
			case day%90 < 8:
				campaignID = "cmp-q-rel"
			case day > 300 && day < 320:
				campaignID = "cmp-kickoff"
			}
			deliver("onboarding", survey.NPS, at, progress, campaignID)
		}
	}
	for day := 180; day >= 0; day -= 3 {
		deliver("support", survey.CSAT, now.AddDate(0, 0, -day).Add(-5*time.Hour), 0.5, "")
		deliver("checkout", survey.CES, now.AddDate(0, 0, -day).Add(-7*time.Hour), 0.5, "")
	}
}

// pickScore draws a score of the kind; progress 0 → 1 shifts it up.
func pickScore(rng *rand.Rand, kind survey.Kind, progress float64) int {
	lo, hi := kind.Range()
	// A skewed distribution: most answers high, a tail of low ones.
	r := rng.Float64()
	bias := 0.25 + 0.35*progress
	var x float64
	switch {
	case r < 0.22-0.1*progress:
		x = rng.Float64() * 0.6
	case r < 0.42:
		x = 0.6 + rng.Float64()*0.25
	default:
		x = 0.75 + rng.Float64()*0.25 + bias*0.1
	}
	score := lo + int(x*float64(hi-lo)+0.5)
	return min(max(score, lo), hi)
}
