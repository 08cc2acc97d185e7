package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/analytics"
	"github.com/npsgate/npsgate/dashboard"
	"github.com/npsgate/npsgate/internal/zone"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// analyticsAPI serves /v1/results/… and the dashboard; the two share one
// word counter, whose Chinese dictionary is loaded once, when first needed.
type analyticsAPI struct {
	*API
	words *analytics.Words
}

// analyticsRoutes registers the analytics routes in the /v1 group.
func (a *API) analyticsRoutes(v1 *gin.RouterGroup) *analyticsAPI {
	an := &analyticsAPI{API: a, words: analytics.NewWords()}
	v1.GET("/results/summary", an.summary)
	v1.GET("/results/breakdown", an.breakdown)
	v1.GET("/results/trend", an.trend)
	v1.GET("/results/funnel", an.funnel)
	v1.GET("/results/comments", an.comments)
	v1.GET("/results/words", an.wordsHandler)
	v1.GET("/results/export.csv", an.exportCSV)
	v1.GET("/results/export.json", an.exportJSON)
	return an
}

// DashboardConfig is where /dashboard keeps its sessions and its secret.
type DashboardConfig struct {
	// Redis keeps the sessions and the random session secret, shared by
	// every API replica and kept across restarts; nil keeps them in this
	// process (one replica, logins end at a restart).
	Redis redis.UniversalClient
	// SessionSecret, when set, signs sessions instead of the random
	// secret kept in Redis; changing it ends every session.
	SessionSecret string
	// SessionTTL is how long a login lasts. Default 12 hours.
	SessionTTL time.Duration
	// TimeZone is the zone the dashboard shows times and cuts its trend
	// in when a page names none (tz). Nil is UTC.
	TimeZone *time.Location
}

// loginAttemptsPerMinute bounds dashboard sign-in attempts per client IP.
const loginAttemptsPerMinute = 10

// clientIPKey carries gin's client IP (which honours TrustedProxies) to
// the dashboard's login limit.
type clientIPKey struct{}

// dashboard is the HTML dashboard, mounted at /dashboard/.
func (an *analyticsAPI) dashboard() gin.HandlerFunc {
	h := dashboard.New(dashboard.Config{
		Store: an.cfg.Store, Keys: dashboardKeys{an.API}, Redis: an.cfg.Dashboard.Redis,
		Secret: []byte(an.cfg.Dashboard.SessionSecret), SessionTTL: an.cfg.Dashboard.SessionTTL,
		LoginLimit: an.loginLimit, Logger: an.cfg.Logger, Now: an.cfg.Now, Words: an.words,
		TimeZone: an.cfg.Dashboard.TimeZone,
	})
	return func(c *gin.Context) {
		ctx := context.WithValue(c.Request.Context(), clientIPKey{}, c.ClientIP())
		h.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	}
}

func (an *analyticsAPI) loginLimit(r *http.Request) (bool, time.Duration) {
	ip, _ := r.Context().Value(clientIPKey{}).(string)
	return an.allow(r.Context(), "dashboard-login-ip:"+ip, loginAttemptsPerMinute, time.Minute)
}

// dashboardKeys lets the dashboard check a typed key by the API's own rule
// (matchKey): plain and sha256: keys log in as the key, never as the
// configured string, and a key limited to triggers does not log in.
type dashboardKeys struct{ a *API }

func (k dashboardKeys) Check(key string) (string, bool) {
	found, ok := k.a.matchKey(key)
	if !ok || found.scope != "" {
		return "", false
	}
	return keyID(found), true
}

func (k dashboardKeys) Accepted(id string) bool {
	for _, key := range k.a.keys {
		if key.scope == "" && keyID(key) == id {
			return true
		}
	}
	return false
}

// keyID names a key in a session without revealing it.
func keyID(k apiKey) string {
	sum := sha256.Sum256(append([]byte("npsgate dashboard key:"), k.sum[:]...))
	return hex.EncodeToString(sum[:8])
}

// recordOpened notes that a delivery's reply page was opened, for the
// funnel. It is bookkeeping: a failure is logged, the page still shows.
func (a *API) recordOpened(ctx context.Context, d *store.Delivery) {
	if err := a.cfg.Store.MarkOpened(ctx, d.ID, a.cfg.Now()); err != nil {
		a.log.Warn("reply page: record opened", "delivery_id", d.ID, "err", err)
	}
}

// query is what every analytics route reads from the query string.
type query struct {
	seg store.Segment
	loc *time.Location
	sv  *store.Survey // nil when no survey was named
}

// readQuery reads the segment: survey, from, to (dates in tz), tz,
// campaign, channel, locale, account, role, category, score (n or n-m),
// q (text in the comment), and attr.<name>=<value> for any attribute.
// needSurvey makes survey required.
func (an *analyticsAPI) readQuery(c *gin.Context, needSurvey bool) (*query, error) {
	qs := c.Request.URL.Query()
	q := &query{loc: time.UTC}
	if tz := qs.Get("tz"); tz != "" {
		loc, ok := zone.Named(tz)
		if !ok {
			return nil, badField("tz", "tz must be an IANA time zone such as Asia/Shanghai")
		}
		q.loc = loc
	}
	g := &q.seg
	g.Survey = qs.Get("survey")
	if g.Survey == "" && needSurvey {
		return nil, badField("survey", "survey is required")
	}
	var err error
	if g.From, err = parseInstant(qs.Get("from"), "from", q.loc, false); err != nil {
		return nil, err
	}
	if g.To, err = parseInstant(qs.Get("to"), "to", q.loc, true); err != nil {
		return nil, err
	}
	if !g.From.IsZero() && !g.To.IsZero() && !g.To.After(g.From) {
		return nil, badField("to", "to must be after from")
	}
	g.Campaign, g.Channel, g.Locale = qs.Get("campaign"), qs.Get("channel"), qs.Get("locale")
	g.Account, g.Role, g.Text = qs.Get("account"), qs.Get("role"), strings.TrimSpace(qs.Get("q"))
	if s := qs.Get("category"); s != "" {
		cat, err := survey.ParseCategory(s)
		if err != nil {
			return nil, badField("category", "%v", err)
		}
		g.Category = cat
	}
	if s := qs.Get("score"); s != "" {
		lo, hi, ok := parseScoreRange(s)
		if !ok {
			return nil, badField("score", "score must be a score (6) or a range (0-6)")
		}
		g.MinScore, g.MaxScore = &lo, &hi
	}
	for k, v := range qs {
		name, ok := strings.CutPrefix(k, store.ByAttributePrefix)
		if !ok {
			continue
		}
		if _, err := store.ParseDimension(k); err != nil {
			return nil, badField(k, "%v", err)
		}
		if g.Attributes == nil {
			g.Attributes = map[string]string{}
		}
		g.Attributes[name] = v[0]
	}
	if g.Survey != "" {
		sv, err := an.cfg.Store.GetSurvey(c.Request.Context(), g.Survey)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("survey")
		}
		if err != nil {
			return nil, err
		}
		q.sv = sv
	}
	return q, nil
}

// parseInstant reads an RFC 3339 time or a date in loc; a date as the end
// of a range means the end of that day.
func parseInstant(s, name string, loc *time.Location, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t.UTC(), nil
	}
	return time.Time{}, badField(name, "%s must be a date (2026-01-31) or an RFC 3339 time", name)
}

func parseScoreRange(s string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, lo >= 0 && hi <= 10 && lo <= hi
}

// summaryJSON is the result of one set of responses.
type summaryJSON struct {
	Responses  int        `json:"responses"`
	Promoters  bucketJSON `json:"promoters"`
	Passives   bucketJSON `json:"passives"`
	Detractors bucketJSON `json:"detractors"`
	// Score is NPS (also under "nps"), % satisfied (also "csat") or the
	// mean (also "ces"); null without responses.
	Score         *float64 `json:"score"`
	NPS           *float64 `json:"nps,omitempty"`
	CSAT          *float64 `json:"csat,omitempty"`
	CES           *float64 `json:"ces,omitempty"`
	MarginOfError *float64 `json:"margin_of_error"`
}

func summaryOf(s survey.Summary) summaryJSON {
	out := summaryJSON{
		Responses:  s.Responses,
		Promoters:  bucketJSON{s.Promoters, s.Pct(s.Promoters)},
		Passives:   bucketJSON{s.Passives, s.Pct(s.Passives)},
		Detractors: bucketJSON{s.Detractors, s.Pct(s.Detractors)},
	}
	if s.Empty() {
		return out
	}
	score, moe := s.Score, s.MarginOfError
	out.Score, out.MarginOfError = &score, &moe
	switch s.Kind {
	case survey.CSAT:
		out.CSAT = &score
	case survey.CES:
		out.CES = &score
	default:
		out.NPS = &score
	}
	return out
}

func scoresOf(k survey.Kind, t survey.Tally) []scoreCount {
	out := []scoreCount{}
	for _, n := range k.Scores() {
		out = append(out, scoreCount{Score: n, Count: t[n]})
	}
	return out
}

// rate is part of whole in percent with one decimal; nil when whole is 0.
func rate(part, whole int) *float64 {
	if whole == 0 {
		return nil
	}
	r := math.Round(1000*float64(part)/float64(whole)) / 10
	return &r
}

func (an *analyticsAPI) summary(c *gin.Context) {
	q, err := an.readQuery(c, true)
	if err != nil {
		an.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	tally, err := an.cfg.Store.SegmentTally(ctx, q.seg)
	if err != nil {
		an.fail(c, err)
		return
	}
	body := gin.H{"survey": q.sv.Key, "kind": q.sv.Kind, "summary": summaryOf(survey.Summarize(q.sv.Kind, tally)),
		"scores": scoresOf(q.sv.Kind, tally)}
	// The response rate is answers of messages sent: it has no meaning
	// for a subset of the answers (a category, scores, a text).
	if q.seg.Category == "" && q.seg.MinScore == nil && q.seg.Text == "" {
		steps, err := an.cfg.Store.Funnel(ctx, q.seg)
		if err != nil {
			an.fail(c, err)
			return
		}
		var sent, answered int
		for _, f := range steps {
			sent += f.Sent
			answered += f.Answered
		}
		body["sent"], body["answered"], body["response_rate"] = sent, answered, rate(answered, sent)
	}
	c.JSON(http.StatusOK, body)
}

type groupJSON struct {
	Key string `json:"key"`
	summaryJSON
}

func (an *analyticsAPI) breakdown(c *gin.Context) {
	by, err := store.ParseDimension(c.Query("by"))
	if err != nil {
		an.fail(c, badField("by", "%v", err))
		return
	}
	q, err := an.readQuery(c, by != store.BySurvey)
	if err != nil {
		an.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	groups, err := an.cfg.Store.BreakdownTally(ctx, q.seg, by)
	if err != nil {
		an.fail(c, err)
		return
	}
	kinds := map[string]survey.Kind{}
	if q.sv != nil {
		kinds[q.sv.Key] = q.sv.Kind
	}
	out := make([]groupJSON, 0, len(groups))
	for _, g := range groups {
		kind := survey.NPS
		if q.sv != nil {
			kind = q.sv.Kind
		} else { // by survey: each group is a survey of its own kind
			if _, ok := kinds[g.Key]; !ok {
				sv, err := an.cfg.Store.GetSurvey(ctx, g.Key)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					an.fail(c, err)
					return
				}
				if sv != nil {
					kinds[g.Key] = sv.Kind
				}
			}
			kind = kinds[g.Key]
		}
		out = append(out, groupJSON{Key: g.Key, summaryJSON: summaryOf(survey.Summarize(kind, g.Tally))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Responses > out[j].Responses })
	body := gin.H{"by": by, "groups": out}
	if q.sv != nil {
		body["survey"], body["kind"] = q.sv.Key, q.sv.Kind
	}
	c.JSON(http.StatusOK, body)
}

type pointJSON struct {
	Label string    `json:"label"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	summaryJSON
	// Partial marks the period that has not ended yet.
	Partial      bool     `json:"partial"`
	Change       *float64 `json:"change"`
	ChangeMargin *float64 `json:"change_margin_of_error"`
	// Significance is what the change means: significant, within_margin,
	// or too_few (a period has fewer than min_responses answers, so the
	// margin itself is unreliable); null without a change. Significant is
	// Significance == "significant".
	Significance *analytics.Significance `json:"significance"`
	Significant  bool                    `json:"significant"`
}

func (an *analyticsAPI) trend(c *gin.Context) {
	period, err := analytics.ParsePeriod(c.Query("period"))
	if err != nil {
		an.fail(c, badField("period", "%v", err))
		return
	}
	q, err := an.readQuery(c, true)
	if err != nil {
		an.fail(c, err)
		return
	}
	to := q.seg.To
	if to.IsZero() {
		to = an.cfg.Now()
	}
	bounds, err := analytics.Bounds(period, q.seg.From, to, q.loc)
	if err != nil {
		an.fail(c, badField("from", "%v", strings.TrimPrefix(err.Error(), "analytics: ")))
		return
	}
	// The periods cover whole weeks, months or quarters; from and to
	// pick which, not where they are cut.
	seg := q.seg
	seg.From, seg.To = time.Time{}, time.Time{}
	tallies, err := an.cfg.Store.PeriodTally(c.Request.Context(), seg, bounds)
	if err != nil {
		an.fail(c, err)
		return
	}
	labels := make([]string, len(tallies))
	for i := range labels {
		labels[i] = period.Label(bounds[i])
	}
	points := analytics.Trend(q.sv.Kind, labels, tallies)
	out := make([]pointJSON, len(points))
	now := an.cfg.Now()
	for i, p := range points {
		out[i] = pointJSON{Label: p.Label, Start: bounds[i], End: bounds[i+1], summaryJSON: summaryOf(p.Summary),
			Partial: bounds[i+1].After(now), Change: p.Change, ChangeMargin: p.ChangeMargin, Significant: p.Significant}
		if p.Significance != "" {
			sig := p.Significance
			out[i].Significance = &sig
		}
	}
	c.JSON(http.StatusOK, gin.H{"survey": q.sv.Key, "kind": q.sv.Kind, "period": period, "time_zone": q.loc.String(),
		"min_responses": analytics.MinResponses, "points": out})
}

type funnelJSON struct {
	Channel      string   `json:"channel,omitempty"`
	Total        int      `json:"total"`
	Sent         int      `json:"sent"`
	Delivered    *int     `json:"delivered"`
	Opened       int      `json:"opened"`
	Answered     int      `json:"answered"`
	Pending      int      `json:"pending"`
	Failed       int      `json:"failed"`
	Suppressed   int      `json:"suppressed"`
	ResponseRate *float64 `json:"response_rate"`
}

func funnelOf(f store.FunnelStep) funnelJSON {
	return funnelJSON{Channel: f.Channel, Total: f.Total, Sent: f.Sent, Delivered: f.Delivered, Opened: f.Opened,
		Answered: f.Answered, Pending: f.Pending, Failed: f.Failed, Suppressed: f.Suppressed,
		ResponseRate: rate(f.Answered, f.Sent)}
}

func (an *analyticsAPI) funnel(c *gin.Context) {
	q, err := an.readQuery(c, false)
	if err != nil {
		an.fail(c, err)
		return
	}
	steps, err := an.cfg.Store.Funnel(c.Request.Context(), q.seg)
	if err != nil {
		an.fail(c, err)
		return
	}
	out := make([]funnelJSON, 0, len(steps))
	var all store.FunnelStep
	for _, f := range steps {
		out = append(out, funnelOf(f))
		all.Total, all.Sent, all.Opened, all.Answered = all.Total+f.Total, all.Sent+f.Sent, all.Opened+f.Opened, all.Answered+f.Answered
		all.Pending, all.Failed, all.Suppressed = all.Pending+f.Pending, all.Failed+f.Failed, all.Suppressed+f.Suppressed
	}
	total := funnelOf(all)
	// Delivered is a sum only where every channel reports it.
	total.Delivered = nil
	if len(steps) > 0 {
		n := 0
		for _, f := range steps {
			if f.Delivered == nil {
				n = -1
				break
			}
			n += *f.Delivered
		}
		if n >= 0 {
			total.Delivered = &n
		}
	}
	c.JSON(http.StatusOK, gin.H{"survey": q.seg.Survey, "channels": out, "total": total})
}

type whoJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Email      string            `json:"email,omitempty"`
	Account    string            `json:"account"`
	Role       string            `json:"role"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
}

type commentJSON struct {
	responseJSON
	Campaign string  `json:"campaign"`
	Contact  whoJSON `json:"contact"`
}

func commentOf(r *store.AnalyticsRow) commentJSON {
	out := commentJSON{responseJSON: responseToJSON(&r.Response), Campaign: r.CampaignID, Contact: whoJSON{
		ID: r.ContactID, Name: r.ContactName, Email: r.ContactEmail, Account: r.Account, Role: r.Role,
		Tags: r.Tags, Attributes: r.Attributes,
	}}
	if out.Contact.Tags == nil {
		out.Contact.Tags = []string{}
	}
	if out.Contact.Attributes == nil {
		out.Contact.Attributes = map[string]string{}
	}
	return out
}

func (an *analyticsAPI) comments(c *gin.Context) {
	q, err := an.readQuery(c, false)
	if err != nil {
		an.fail(c, err)
		return
	}
	order := store.CommentOrder(c.DefaultQuery("sort", string(store.WorstFirst)))
	if order != store.WorstFirst && order != store.NewestFirst {
		an.fail(c, badField("sort", "sort must be worst or newest"))
		return
	}
	limit, err := intParam(c, "limit", 50, 1, 500)
	if err != nil {
		an.fail(c, err)
		return
	}
	offset, err := intParam(c, "offset", 0, 0, math.MaxInt32)
	if err != nil {
		an.fail(c, err)
		return
	}
	rows, total, err := an.cfg.Store.ListComments(c.Request.Context(), q.seg, order, limit, offset)
	if err != nil {
		an.fail(c, err)
		return
	}
	out := make([]commentJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, commentOf(r))
	}
	body := gin.H{"comments": out, "total": total}
	if offset+len(rows) < total {
		body["next_offset"] = offset + len(rows)
	}
	c.JSON(http.StatusOK, body)
}

type termsJSON struct {
	Comments int              `json:"comments"`
	Words    []analytics.Term `json:"words"`
	Phrases  []analytics.Term `json:"phrases"`
}

// maxWordComments bounds the comments one word count reads: the newest.
const maxWordComments = 5000

func (an *analyticsAPI) wordsHandler(c *gin.Context) {
	q, err := an.readQuery(c, false)
	if err != nil {
		an.fail(c, err)
		return
	}
	n, err := intParam(c, "limit", 20, 1, 100)
	if err != nil {
		an.fail(c, err)
		return
	}
	texts, err := an.cfg.Store.CommentTexts(c.Request.Context(), q.seg, maxWordComments)
	if err != nil {
		an.fail(c, err)
		return
	}
	byCat := map[survey.Category][]string{}
	var all []string
	for _, t := range texts {
		byCat[t.Category] = append(byCat[t.Category], t.Text)
		all = append(all, t.Text)
	}
	count := func(texts []string) (termsJSON, error) {
		w, p, err := an.words.Top(texts, n)
		if w == nil {
			w = []analytics.Term{}
		}
		if p == nil {
			p = []analytics.Term{}
		}
		return termsJSON{Comments: len(texts), Words: w, Phrases: p}, err
	}
	body := gin.H{"survey": q.seg.Survey}
	total, err := count(all)
	if err != nil {
		an.fail(c, err)
		return
	}
	body["all"] = total
	cats := gin.H{}
	for _, cat := range []survey.Category{survey.Promoter, survey.Passive, survey.Detractor} {
		if q.seg.Category != "" && cat != q.seg.Category {
			continue
		}
		t, err := count(byCat[cat])
		if err != nil {
			an.fail(c, err)
			return
		}
		cats[string(cat)] = t
	}
	body["categories"] = cats
	c.JSON(http.StatusOK, body)
}

// eachExportRow pages through the segment's responses with their
// contacts.
func (an *analyticsAPI) eachExportRow(ctx context.Context, seg store.Segment, fn func(*store.AnalyticsRow) error) error {
	after := ""
	for {
		rows, next, err := an.cfg.Store.ExportResponses(ctx, seg, after, 1000)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

func exportName(q *query, ext string) string {
	name := "responses"
	if q.sv != nil {
		name += "-" + strings.Map(func(r rune) rune {
			if r == '"' || r == '\\' || r < 0x20 || r == '/' {
				return '_'
			}
			return r
		}, q.sv.Key)
	}
	return name + "." + ext
}

// exportCSV streams the responses with their contact's fields and one
// column per attribute (attr.<name>), a page at a time.
func (an *analyticsAPI) exportCSV(c *gin.Context) {
	q, err := an.readQuery(c, false)
	if err != nil {
		an.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	attrs, err := an.cfg.Store.AttributeNames(ctx, q.seg)
	if err != nil {
		an.fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+exportName(q, "csv")+`"`)
	w := csv.NewWriter(c.Writer)
	head := []string{"id", "delivery_id", "survey", "contact_id", "contact_name", "contact_email", "account", "role",
		"tags", "campaign", "channel", "locale", "score", "category", "comment", "may_contact", "created_at", "updated_at"}
	for _, k := range attrs {
		head = append(head, store.ByAttributePrefix+k)
	}
	_ = w.Write(head)
	n := 0
	err = an.eachExportRow(ctx, q.seg, func(r *store.AnalyticsRow) error {
		may := ""
		if r.MayContact != nil {
			may = strconv.FormatBool(*r.MayContact)
		}
		rec := []string{r.ID, r.DeliveryID, r.SurveyKey, csvSafe(r.ContactID), csvSafe(r.ContactName),
			csvSafe(r.ContactEmail), csvSafe(r.Account), csvSafe(r.Role), csvSafe(strings.Join(r.Tags, ";")),
			csvSafe(r.CampaignID), r.Channel, r.Locale, strconv.Itoa(r.Score), string(r.Category), csvSafe(r.Comment),
			may, r.CreatedAt.UTC().Format(time.RFC3339), r.UpdatedAt.UTC().Format(time.RFC3339)}
		for _, k := range attrs {
			rec = append(rec, csvSafe(r.Attributes[k]))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			w.Flush()
		}
		return w.Error()
	})
	w.Flush()
	if err != nil {
		// Headers are gone; the truncated file and the log tell.
		an.log.Error("csv export stopped", "err", err)
	}
}

type exportJSONRow struct {
	responseJSON
	Campaign string  `json:"campaign"`
	Contact  whoJSON `json:"contact"`
}

// exportJSON streams the responses as one JSON array, a page at a time.
func (an *analyticsAPI) exportJSON(c *gin.Context) {
	q, err := an.readQuery(c, false)
	if err != nil {
		an.fail(c, err)
		return
	}
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+exportName(q, "json")+`"`)
	c.Status(http.StatusOK)
	_, _ = c.Writer.WriteString("[")
	enc := json.NewEncoder(c.Writer)
	first := true
	err = an.eachExportRow(c.Request.Context(), q.seg, func(r *store.AnalyticsRow) error {
		if !first {
			if _, err := c.Writer.WriteString(","); err != nil {
				return err
			}
		}
		first = false
		cm := commentOf(r)
		return enc.Encode(exportJSONRow(cm))
	})
	if err != nil {
		// An unterminated array tells the reader the export is cut.
		an.log.Error("json export stopped", "err", err)
		return
	}
	_, _ = c.Writer.WriteString("]\n")
}
