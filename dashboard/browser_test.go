package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/internal/testenv"
)

const apiKey = "browser-key-0123456789abcdef"

// Browser tests drive Debian's Chromium from Go. Without a Chromium they
// skip, unless NPSGATE_REQUIRE_BROWSER=1 (CI) makes that a failure.
// Screenshots of every page go to $NPSGATE_SCREENSHOTS, or out/screenshots
// beside this file, for a reviewer to look at.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("NPSGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("NPSGATE_REQUIRE_BROWSER") == "1" {
		t.Fatal("NPSGATE_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium, or set NPSGATE_CHROMIUM)")
	}
	t.Skip("no Chromium found (apt-get install chromium, or set NPSGATE_CHROMIUM); set NPSGATE_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NPSGATE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("out", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// gw is a whole gateway serving on a local port, on the test's database
// (PostgreSQL when NPSGATE_TEST_POSTGRES is set) and an in-process Redis;
// extra sets further NPSGATE_* variables.
type gw struct {
	t    *testing.T
	base string
	g    *gateway.Gateway
}

func startGateway(t *testing.T, extra ...map[string]string) *gw {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	mini := miniredis.RunT(t)
	vars := map[string]string{
		"NPSGATE_HTTP_ADDR":    addr,
		"NPSGATE_PUBLIC_URL":   "http://" + addr,
		"NPSGATE_DATA_DIR":     t.TempDir(),
		"NPSGATE_REDIS_URL":    "redis://" + mini.Addr() + "/0",
		"NPSGATE_DATABASE_URL": testenv.DatabaseURL(t),
		"NPSGATE_API_KEYS":     apiKey,
	}
	for _, m := range extra {
		for k, v := range m {
			vars[k] = v
		}
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	g, err := gateway.New(ctx, cfg, gateway.RoleAll, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := g.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return &gw{t: t, base: "http://" + addr, g: g}
}

func (g *gw) api(method, path string, body any, out any) int {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			g.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return &browser{t: t, ctx: ctx, dir: screenshotDir(t)}
}

// do runs steps; on failure it takes a screenshot and stops the test.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.failed(what, err)
	}
}

func (b *browser) failed(what string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
	b.t.Fatalf("%s (at %s): %v", what, loc, err)
}

// get runs one action and returns its value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.failed(what, err)
	}
	return v
}

// shot writes a full-page PNG of what the browser shows.
func (b *browser) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// metric reads a number the overview marks with data-metric.
func (b *browser) metric(name string) string {
	b.t.Helper()
	r := get(b, "read "+name, chromedp.AttributeValue(chromedp.CSS(`[data-metric="`+name+`"]`), "data-value"))
	if !r.Exists {
		b.t.Fatalf("no data-value on metric %s", name)
	}
	return r.Value
}

func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	g := startGateway(t)
	seed(t, g.g.Store, time.Now())

	// Logging in: the dashboard sends a visitor to the login page.
	b.do("open dashboard",
		chromedp.Navigate(g.base+"/dashboard/?survey=onboarding&range=all"),
		chromedp.WaitVisible(chromedp.CSS(`#key`)),
	)
	b.shot("01-login")
	b.do("wrong key",
		chromedp.SendKeys(chromedp.CSS(`#key`), "not-the-key-0123456789"),
		chromedp.Submit(chromedp.CSS(`#key`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert`)),
	)
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS(`#key`), apiKey),
		chromedp.Submit(chromedp.CSS(`#key`)),
		chromedp.WaitVisible(chromedp.CSS(`.score-card`)),
	)
	loc := get(b, "location", chromedp.Location())
	if !strings.Contains(loc, "survey=onboarding") {
		t.Errorf("after login the browser is at %s, want the page it asked for", loc)
	}
	b.shot("02-overview")

	// The overview's numbers are /v1/results'.
	var res struct {
		Responses     int      `json:"responses"`
		NPS           *float64 `json:"nps"`
		MarginOfError *float64 `json:"margin_of_error"`
		Promoters     struct{ Count int }
		Passives      struct{ Count int }
		Detractors    struct{ Count int }
	}
	if code := g.api("GET", "/v1/results?survey=onboarding", nil, &res); code != 200 || res.NPS == nil {
		t.Fatalf("/v1/results: %d %+v", code, res)
	}
	want := map[string]string{
		"responses":  strconv.Itoa(res.Responses),
		"score":      strconv.FormatFloat(*res.NPS, 'f', 1, 64),
		"moe":        strconv.FormatFloat(*res.MarginOfError, 'f', 1, 64),
		"promoters":  strconv.Itoa(res.Promoters.Count),
		"passives":   strconv.Itoa(res.Passives.Count),
		"detractors": strconv.Itoa(res.Detractors.Count),
	}
	for name, w := range want {
		if got := b.metric(name); got != w {
			t.Errorf("overview %s = %s, /v1/results says %s", name, got, w)
		}
	}
	var sum struct {
		Sent int `json:"sent"`
	}
	g.api("GET", "/v1/results/summary?survey=onboarding", nil, &sum)
	if got := b.metric("sent"); got != strconv.Itoa(sum.Sent) {
		t.Errorf("overview sent = %s, /v1/results/summary says %d", got, sum.Sent)
	}
	if res.Responses < 100 {
		t.Errorf("only %d responses seeded", res.Responses)
	}

	// In Shanghai's time zone the trend is /v1/results/trend's with that
	// tz, and a Sunday evening answer in UTC counts in the next week;
	// choosing another period keeps the zone.
	respondAt(t, g.g.Store, "onboarding", "sunday-evening", lastSundayEvening(time.Now()), 0, "")
	b.do("overview in Shanghai", chromedp.Navigate(g.base+"/dashboard/?survey=onboarding&range=all&period=week&tz=Asia%2FShanghai"),
		chromedp.WaitVisible(chromedp.CSS(`.score-card`)))
	for _, period := range []string{"week", "month"} {
		if period == "month" {
			b.do("months in Shanghai", chromedp.Click(chromedp.CSS(`.card-head .seg a[href*="period=month"]`)),
				chromedp.WaitVisible(chromedp.CSS(`.card-head .seg a.on[href*="period=month"]`)))
		}
		if loc := get(b, "location", chromedp.Location()); !strings.Contains(loc, "tz=Asia%2FShanghai") {
			t.Errorf("the %s trend is at %s, without the zone", period, loc)
		}
		page := get(b, "page", chromedp.OuterHTML(chromedp.CSS(`html`)))
		if got, want := trendPoints(t, page), g.trend("onboarding", period, "Asia/Shanghai"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s trend in Shanghai: page %v, /v1/results/trend %v", period, got, want)
		}
	}
	if utc, sh := g.trend("onboarding", "week", "UTC"), g.trend("onboarding", "week", "Asia/Shanghai"); fmt.Sprint(utc) == fmt.Sprint(sh) {
		t.Error("the weeks are the same in UTC and Shanghai: the check above does not test the zone")
	}

	// Comments, filtered to detractors by clicking.
	b.do("open comments",
		chromedp.Click(chromedp.CSS(`a.tab[href*="/comments"]`)),
		chromedp.WaitVisible(chromedp.CSS(`article.comment`)),
		chromedp.Click(chromedp.CSS(`.seg a[data-category="detractor"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.seg a.on[data-category="detractor"]`)),
	)
	cats := get(b, "read comments", chromedp.Evaluate[[]string](`[...document.querySelectorAll("article.comment")].map(e => e.dataset.category)`))
	if len(cats) == 0 {
		t.Fatal("no detractor comments shown")
	}
	for _, c := range cats {
		if c != "detractor" {
			t.Errorf("comment of category %q among detractors", c)
		}
	}
	var com struct {
		Total int `json:"total"`
	}
	g.api("GET", "/v1/results/comments?survey=onboarding&category=detractor", nil, &com)
	if got := b.metric("comments-total"); got != strconv.Itoa(com.Total) {
		t.Errorf("detractor comments: page says %s, /v1/results/comments says %d", got, com.Total)
	}
	first := get(b, "first score", chromedp.AttributeValue(chromedp.CSS(`article.comment`), "data-score")).Value
	if first != "0" && first != "1" {
		t.Errorf("lowest score first: the first comment has score %s", first)
	}
	b.shot("03-comments-detractors")

	for _, p := range []struct{ name, path, wait string }{
		{"04-segments-account", "/dashboard/segments?survey=onboarding&range=all&by=account", `.seg-chart`},
		{"05-segments-tier", "/dashboard/segments?survey=onboarding&range=all&by=attr.tier", `.seg-chart`},
		{"06-campaigns", "/dashboard/campaigns", `section.campaign`},
		{"07-deliveries", "/dashboard/deliveries?survey=onboarding", `table.table`},
		{"07b-deliveries-filtered", "/dashboard/deliveries?survey=onboarding&campaign=cmp-q-rel&channel=sms", `[data-filters]`},
		{"07c-comments-filtered", "/dashboard/comments?survey=onboarding&range=all&account=Globex&attr.tier=KA", `[data-filters]`},
		{"08-overview-csat", "/dashboard/?survey=support&range=all", `.score-card`},
		{"09-overview-ces-weeks", "/dashboard/?survey=checkout&range=all&period=week", `.score-card`},
	} {
		b.do(p.name, chromedp.Navigate(g.base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		b.shot(p.name)
	}

	// The same overview in Chinese, through the language switch.
	b.do("switch to Chinese",
		chromedp.Navigate(g.base+"/dashboard/?survey=onboarding&range=12m"),
		chromedp.Click(chromedp.CSS(`.langs a[lang="zh-CN"]`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"] .score-card`)),
	)
	b.shot("10-overview-zh-CN")
	b.do("Chinese comments", chromedp.Navigate(g.base+"/dashboard/comments?survey=onboarding&range=all&category=detractor"),
		chromedp.WaitVisible(chromedp.CSS(`article.comment`)))
	b.shot("11-comments-zh-CN")
	b.do("back to English", chromedp.Click(chromedp.CSS(`.langs a[lang="en"]`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)))

	// A phone.
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(g.base+"/dashboard/?survey=onboarding&range=all"), chromedp.WaitVisible(chromedp.CSS(`.score-card`)))
	b.shot("12-overview-phone")
	b.do("desktop", chromedp.EmulateViewport(1440, 1000))

	// Answering a survey on the reply page, from the outbox.
	if code := g.api("PUT", "/v1/contacts/reply-tester", map[string]any{"email": "tester@customer.example", "name": "Rita Reply",
		"locale": "en", "account": "Globex", "role": "admin"}, nil); code >= 300 {
		t.Fatalf("put contact: %d", code)
	}
	var tr struct {
		DeliveryID string `json:"delivery_id"`
	}
	if code := g.api("POST", "/v1/triggers", map[string]any{"survey": "onboarding", "channel": "email",
		"contact": map[string]any{"external_id": "reply-tester"}}, &tr); code != 202 {
		t.Fatalf("trigger: %d", code)
	}
	replyURL := g.waitOutbox(tr.DeliveryID)
	b.do("outbox page", chromedp.Navigate(g.base+"/dashboard/outbox"), chromedp.WaitVisible(chromedp.CSS(`article.message`)))
	b.shot("13-outbox")
	b.do("open the reply page", chromedp.Navigate(replyURL), chromedp.WaitVisible(chromedp.CSS(`fieldset.scores`)))
	b.shot("14-reply-page")
	b.do("answer",
		chromedp.Click(chromedp.CSS(`input[name=score][value="9"] + span`)),
		chromedp.SendKeys(chromedp.CSS(`#comment`), "The dashboard made this easy to find."),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`fieldset.scores`)),
	)
	body := get(b, "thanks", chromedp.Text(chromedp.CSS(`body`)))
	if !strings.Contains(body, "Thank you") {
		t.Errorf("after answering the page says %q", body)
	}
	b.shot("15-reply-thanks")
	var d struct {
		Status string `json:"status"`
	}
	g.api("GET", "/v1/deliveries/"+tr.DeliveryID, nil, &d)
	if d.Status != "responded" {
		t.Errorf("delivery after answering is %q, want responded", d.Status)
	}
	var cm struct {
		Comments []struct {
			Score      int    `json:"score"`
			Comment    string `json:"comment"`
			DeliveryID string `json:"delivery_id"`
			Contact    struct {
				Name    string `json:"name"`
				Account string `json:"account"`
			} `json:"contact"`
		} `json:"comments"`
	}
	g.api("GET", "/v1/results/comments?survey=onboarding&q=made+this+easy", nil, &cm)
	if len(cm.Comments) != 1 || cm.Comments[0].Score != 9 || cm.Comments[0].DeliveryID != tr.DeliveryID ||
		cm.Comments[0].Contact.Name != "Rita Reply" || cm.Comments[0].Contact.Account != "Globex" {
		t.Errorf("the answer in /v1/results/comments: %+v", cm.Comments)
	}
	var fn struct {
		Channels []struct {
			Channel string `json:"channel"`
			Opened  int    `json:"opened"`
		} `json:"channels"`
	}
	g.api("GET", "/v1/results/funnel?survey=onboarding&account=Globex&from="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), nil, &fn)
	if len(fn.Channels) != 1 || fn.Channels[0].Opened != 1 {
		t.Errorf("funnel of the last hour for Globex: %+v, want one opened email", fn.Channels)
	}

	// Logging out ends the session.
	b.do("log out", chromedp.Navigate(g.base+"/dashboard/"), chromedp.WaitVisible(chromedp.CSS(`.me button`)),
		chromedp.Click(chromedp.CSS(`.me button`)), chromedp.WaitVisible(chromedp.CSS(`#key`)),
		chromedp.Navigate(g.base+"/dashboard/segments"), chromedp.WaitVisible(chromedp.CSS(`#key`)))
}

// waitOutbox waits for the outbox message of a delivery and returns its
// reply link.
func (g *gw) waitOutbox(deliveryID string) string {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var out struct {
			Messages []struct {
				DeliveryID string `json:"delivery_id"`
				ReplyURL   string `json:"reply_url"`
			} `json:"messages"`
		}
		g.api("GET", "/v1/outbox", nil, &out)
		for _, m := range out.Messages {
			if m.DeliveryID == deliveryID && m.ReplyURL != "" {
				return m.ReplyURL
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("no outbox message for delivery %s", deliveryID)
	return ""
}
