package dashboard

import (
	"context"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/npsgate/npsgate/analytics"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// Every number on these pages comes from the same store queries and
// survey.Summarize as /v1/results and /v1/results/…, so the two agree.

type overviewView struct {
	page
	Kind    survey.Kind
	Summary survey.Summary
	Gauge   template.HTML
	Trend   template.HTML
	Dist    template.HTML
	Split   template.HTML
	Period  string
	Periods []option
	// Last is the headline period: the last complete one with answers,
	// or the current one (LastPartial) when no complete one has any.
	Last        *analytics.Point
	LastPartial bool
	// LastNote says what Last's change means, in words.
	LastNote   string
	Funnels    []funnelView
	Sent       int
	Answered   int
	Detractors []analytics.Term
	Worst      []*store.AnalyticsRow
}

type funnelView struct {
	Channel string
	Steps   []funnelStepView
	Sent    int
	Rate    string
}

type funnelStepView struct {
	Label string
	N     *int // nil: not reported by the channel
	Pct   string
	Bar   template.HTML
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	p, err := d.withSession(r, "overview", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := overviewView{page: p}
	if p.Survey == nil {
		d.render(w, http.StatusOK, "overview", v)
		return
	}
	v.Kind = p.Survey.Kind
	seg := store.Segment{Survey: p.Survey.Key, From: p.From}
	tally, err := d.store.SegmentTally(ctx, seg)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v.Summary = survey.Summarize(v.Kind, tally)
	v.Gauge = gauge(v.Kind, v.Summary, p.T("no_answers"), p.T("moe_short"))
	v.Dist = distribution(v.Kind, tally)
	v.Split = split(v.Summary, [3]string{p.CategoryName(v.Kind, survey.Detractor), p.CategoryName(v.Kind, survey.Passive),
		p.CategoryName(v.Kind, survey.Promoter)})

	period, err := analytics.ParsePeriod(r.URL.Query().Get("period"))
	if err != nil {
		period = analytics.Month
	}
	v.Period = string(period)
	v.Keep("period", v.Period)
	for _, pp := range []analytics.Period{analytics.Week, analytics.Month, analytics.Quarter} {
		v.Periods = append(v.Periods, option{Value: string(pp), Label: p.T("period_" + string(pp)), Selected: pp == period})
	}
	// Cut in the page's zone, as /v1/results/trend cuts in its tz: a
	// week in Shanghai starts eight hours before a week in UTC.
	bounds, err := analytics.Bounds(period, time.Time{}, d.now(), p.Loc)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	tallies, err := d.store.PeriodTally(ctx, store.Segment{Survey: p.Survey.Key}, bounds)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	labels := make([]string, len(tallies))
	for i := range labels {
		labels[i] = period.Label(bounds[i])
	}
	points := analytics.Trend(v.Kind, labels, tallies)
	tp := make([]trendPoint, len(points))
	now := d.now()
	for i, pt := range points {
		partial := bounds[i+1].After(now)
		tp[i] = trendPoint{Label: pt.Label, Empty: pt.Summary.Empty(), Score: pt.Summary.Score, MoE: pt.Summary.MarginOfError,
			N: pt.Summary.Responses, Change: pt.Change, Significant: pt.Significant, Partial: partial}
		// A period still going on has fewer answers than it will have,
		// and its change compares a part with a whole: it is the
		// headline only when nothing before it has answers.
		if !pt.Summary.Empty() && (!partial || v.Last == nil) {
			v.Last, v.LastPartial = &points[i], partial
		}
	}
	if v.Last != nil && v.Last.Change != nil {
		switch v.Last.Significance {
		case analytics.Significant:
			v.LastNote = p.Tf("significant", *v.Last.ChangeMargin)
		case analytics.TooFew:
			v.LastNote = p.Tf("too_few", analytics.MinResponses)
		default:
			v.LastNote = p.Tf("not_significant", *v.Last.ChangeMargin)
		}
	}
	v.Trend = lineChart(v.Kind, tp, p.T("no_answers"), p.T("so_far"))

	steps, err := d.store.Funnel(ctx, seg)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	for _, f := range steps {
		v.Sent += f.Sent
		v.Answered += f.Answered
		fv := funnelView{Channel: f.Channel, Sent: f.Sent, Rate: ratio(f.Answered, f.Sent)}
		sent, opened, answered := f.Sent, f.Opened, f.Answered
		for i, st := range []struct {
			key string
			n   *int
		}{{"funnel_sent", &sent}, {"funnel_delivered", f.Delivered}, {"funnel_opened", &opened}, {"funnel_answered", &answered}} {
			sv := funnelStepView{Label: p.T(st.key), N: st.n}
			if st.n != nil {
				sv.Bar = funnelBar(i, *st.n, f.Sent)
				if i > 0 {
					sv.Pct = ratio(*st.n, f.Sent)
				}
			} else {
				sv.Bar = funnelBar(i, 0, 0)
			}
			fv.Steps = append(fv.Steps, sv)
		}
		v.Funnels = append(v.Funnels, fv)
	}

	texts, err := d.store.CommentTexts(ctx, store.Segment{Survey: p.Survey.Key, From: p.From, Category: survey.Detractor}, 2000)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	var all []string
	for _, t := range texts {
		all = append(all, t.Text)
	}
	if v.Detractors, _, err = d.words.Top(all, 12); err != nil {
		d.log.Warn("word counts", "err", err)
	}
	if v.Worst, _, err = d.store.ListComments(ctx, seg, store.WorstFirst, 3, 0); err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, http.StatusOK, "overview", v)
}

// ratio is part of whole in percent, "–" without a whole.
func ratio(part, whole int) string {
	if whole == 0 {
		return "–"
	}
	return strconv.FormatFloat(math.Round(1000*float64(part)/float64(whole))/10, 'f', 1, 64) + "%"
}

type segmentsView struct {
	page
	Kind  survey.Kind
	By    string
	Dims  []option
	Ticks []string
	Rows  []segmentLine
	Total survey.Summary
}

type segmentLine struct {
	Key     string
	Label   string
	Summary survey.Summary
	Link    string
	Bar     template.HTML
}

func (d *Dashboard) segments(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	p, err := d.withSession(r, "segments", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := segmentsView{page: p}
	if p.Survey == nil {
		d.render(w, http.StatusOK, "segments", v)
		return
	}
	v.Kind = p.Survey.Kind
	seg := store.Segment{Survey: p.Survey.Key, From: p.From}
	attrs, err := d.store.AttributeNames(ctx, seg)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	by := r.URL.Query().Get("by")
	if _, err := store.ParseDimension(by); err != nil || by == store.BySurvey {
		by = store.ByChannel
	}
	v.By = by
	v.Keep("by", by)
	for _, dim := range []string{store.ByChannel, store.ByLocale, store.ByAccount, store.ByRole, store.ByCampaign} {
		v.Dims = append(v.Dims, option{Value: dim, Label: p.T("dim_" + dim), Selected: dim == by})
	}
	for _, a := range attrs {
		dim := store.ByAttributePrefix + a
		v.Dims = append(v.Dims, option{Value: dim, Label: a, Selected: dim == by})
	}
	groups, err := d.store.BreakdownTally(ctx, seg, by)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	var total survey.Tally
	for _, g := range groups {
		sum := survey.Summarize(v.Kind, g.Tally)
		label := g.Key
		if label == "" {
			label = p.T("none")
		}
		line := segmentLine{Key: g.Key, Label: label, Summary: sum}
		if by != store.ByCampaign || g.Key != "" {
			line.Link = p.Link("/comments", filterParam(by), g.Key)
		}
		v.Rows = append(v.Rows, line)
		for i, n := range g.Tally {
			total[i] += n
		}
	}
	v.Total = survey.Summarize(v.Kind, total)
	sort.SliceStable(v.Rows, func(i, j int) bool { return v.Rows[i].Summary.Responses > v.Rows[j].Summary.Responses })
	v.Ticks = axisTicks(v.Kind)
	for i := range v.Rows {
		if l := &v.Rows[i]; !l.Summary.Empty() {
			l.Bar = segmentBar(v.Kind, l.Summary.Score, l.Summary.MarginOfError, l.Summary.Responses)
		}
	}
	d.render(w, http.StatusOK, "segments", v)
}

// filterParam is the comments page's query parameter for a dimension.
func filterParam(by string) string {
	return by // channel, locale, account, role, campaign, attr.<name>
}

type commentsView struct {
	page
	Kind       survey.Kind
	Category   string
	Categories []option
	Score      string
	Q          string
	Sort       string
	Rows       []*store.AnalyticsRow
	Total      int
	Offset     int
	Prev, Next string
	Words      []analytics.Term
	Phrases    []analytics.Term
}

const commentsPerPage = 25

// segmentFilters are the query parameters of a segment that the comments
// page filters by, besides attr.<name>.
var segmentFilters = []string{"channel", "locale", "account", "role", "campaign"}

func (d *Dashboard) comments(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	p, err := d.withSession(r, "comments", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	v := commentsView{page: p, Score: q.Get("score"), Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort")}
	if p.Survey == nil {
		d.render(w, http.StatusOK, "comments", v)
		return
	}
	v.Kind = p.Survey.Kind
	seg := store.Segment{Survey: p.Survey.Key, From: p.From, Text: v.Q}
	if cat, err := survey.ParseCategory(q.Get("category")); err == nil {
		seg.Category, v.Category = cat, string(cat)
	}
	if lo, hi, ok := scoreRange(v.Score); ok {
		seg.MinScore, seg.MaxScore = &lo, &hi
	} else {
		v.Score = ""
	}
	order := store.WorstFirst
	if v.Sort == string(store.NewestFirst) {
		order = store.NewestFirst
	} else {
		v.Sort = ""
	}
	v.Keep("category", v.Category)
	v.Keep("score", v.Score)
	v.Keep("q", v.Q)
	v.Keep("sort", v.Sort)
	for _, key := range segmentFilters {
		val := q.Get(key)
		if val == "" {
			continue
		}
		label := val
		switch key {
		case "channel":
			seg.Channel = val
		case "locale":
			seg.Locale = val
		case "account":
			seg.Account = val
		case "role":
			seg.Role = val
		case "campaign":
			seg.Campaign = val
			label = d.campaignName(ctx, val)
		}
		v.Filter(key, val, p.T("dim_"+key)+": "+label)
	}
	var attrs []string
	for key, vals := range q {
		if _, ok := strings.CutPrefix(key, store.ByAttributePrefix); ok && vals[0] != "" {
			if _, err := store.ParseDimension(key); err == nil {
				attrs = append(attrs, key)
			}
		}
	}
	sort.Strings(attrs)
	for _, key := range attrs {
		name, val := strings.TrimPrefix(key, store.ByAttributePrefix), q.Get(key)
		if seg.Attributes == nil {
			seg.Attributes = map[string]string{}
		}
		seg.Attributes[name] = val
		v.Filter(key, val, name+": "+val)
	}
	v.Categories = append(v.Categories, option{Value: "", Label: p.T("all"), Selected: v.Category == ""})
	for _, c := range []survey.Category{survey.Detractor, survey.Passive, survey.Promoter} {
		v.Categories = append(v.Categories, option{Value: string(c), Label: p.CategoryName(v.Kind, c), Selected: v.Category == string(c)})
	}
	v.Offset, _ = strconv.Atoi(q.Get("offset"))
	v.Offset = max(v.Offset, 0)
	v.Rows, v.Total, err = d.store.ListComments(ctx, seg, order, commentsPerPage, v.Offset)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if v.Offset > 0 {
		v.Prev = v.Link("/comments", "offset", strconv.Itoa(max(v.Offset-commentsPerPage, 0)))
	}
	if v.Offset+len(v.Rows) < v.Total {
		v.Next = v.Link("/comments", "offset", strconv.Itoa(v.Offset+commentsPerPage))
	}
	texts, err := d.store.CommentTexts(ctx, seg, 2000)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	all := make([]string, len(texts))
	for i, t := range texts {
		all[i] = t.Text
	}
	if v.Words, v.Phrases, err = d.words.Top(all, 15); err != nil {
		d.log.Warn("word counts", "err", err)
	}
	d.render(w, http.StatusOK, "comments", v)
}

// campaignName names a campaign for a filter chip; its id when it has no
// name or cannot be read.
func (d *Dashboard) campaignName(ctx context.Context, id string) string {
	c, err := d.store.GetCampaign(ctx, id)
	if err != nil || c.Name == "" {
		return id
	}
	return c.Name
}

func scoreRange(s string) (lo, hi int, ok bool) {
	if s == "" {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, false
		}
	}
	return lo, hi, lo >= 0 && hi <= 10 && lo <= hi
}

type campaignsView struct {
	page
	Rows []campaignLine
}

type campaignLine struct {
	*store.Campaign
	Total, Waiting, Sent, Answered, Failed, Suppressed int
	Progress                                           template.HTML
	Reasons                                            []option
}

func (d *Dashboard) campaigns(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	p, err := d.withSession(r, "campaigns", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	list, err := d.store.ListCampaigns(ctx)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := campaignsView{page: p}
	for _, c := range list {
		byStatus, byReason, err := d.store.CampaignCounts(ctx, c.ID)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		l := campaignLine{Campaign: c}
		for st, n := range byStatus {
			l.Total += n
			switch st {
			case store.StatusQueued, store.StatusSending, store.StatusDeferred:
				l.Waiting += n
			case store.StatusSent, store.StatusDelivered:
				l.Sent += n
			case store.StatusResponded:
				l.Answered += n
			case store.StatusFailed:
				l.Failed += n
			case store.StatusSuppressed:
				l.Suppressed += n
			}
		}
		for reason, n := range byReason {
			l.Reasons = append(l.Reasons, option{Value: formatInt(n), Label: reason})
		}
		sort.Slice(l.Reasons, func(i, j int) bool { return l.Reasons[i].Label < l.Reasons[j].Label })
		l.Progress = progress(l.Answered, l.Sent, l.Waiting, l.Failed+l.Suppressed)
		v.Rows = append(v.Rows, l)
	}
	d.render(w, http.StatusOK, "campaigns", v)
}

type deliveriesView struct {
	page
	Status     string
	Statuses   []option
	Rows       []*store.DeliveryRow
	Total      int
	Offset     int
	Prev, Next string
}

const deliveriesPerPage = 50

func (d *Dashboard) deliveries(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	p, err := d.withSession(r, "deliveries", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	v := deliveriesView{page: p, Status: q.Get("status")}
	all := []store.DeliveryStatus{store.StatusQueued, store.StatusDeferred, store.StatusSent, store.StatusDelivered,
		store.StatusResponded, store.StatusFailed, store.StatusSuppressed}
	valid := false
	for _, st := range all {
		valid = valid || string(st) == v.Status
	}
	if !valid {
		v.Status = ""
	}
	v.Statuses = append(v.Statuses, option{Value: "", Label: p.T("all"), Selected: v.Status == ""})
	for _, st := range all {
		v.Statuses = append(v.Statuses, option{Value: string(st), Label: p.T("status_" + string(st)), Selected: string(st) == v.Status})
	}
	v.Keep("status", v.Status)
	dq := store.DeliveryQuery{Status: store.DeliveryStatus(v.Status), Channel: q.Get("channel"), Campaign: q.Get("campaign"),
		Limit: deliveriesPerPage}
	if dq.Channel != "" {
		v.Filter("channel", dq.Channel, p.T("dim_channel")+": "+dq.Channel)
	}
	if dq.Campaign != "" {
		v.Filter("campaign", dq.Campaign, p.T("dim_campaign")+": "+d.campaignName(ctx, dq.Campaign))
	}
	if p.Survey != nil {
		dq.Survey = p.Survey.Key
	}
	v.Offset, _ = strconv.Atoi(q.Get("offset"))
	v.Offset = max(v.Offset, 0)
	dq.Offset = v.Offset
	v.Rows, v.Total, err = d.store.ListDeliveries(ctx, dq)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if v.Offset > 0 {
		v.Prev = v.Link("/deliveries", "offset", strconv.Itoa(max(v.Offset-deliveriesPerPage, 0)))
	}
	if v.Offset+len(v.Rows) < v.Total {
		v.Next = v.Link("/deliveries", "offset", strconv.Itoa(v.Offset+deliveriesPerPage))
	}
	d.render(w, http.StatusOK, "deliveries", v)
}

type outboxView struct {
	page
	Rows []*store.OutboxMessage
	Next string
}

func (d *Dashboard) outbox(w http.ResponseWriter, r *http.Request, s session) {
	p, err := d.withSession(r, "outbox", s)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	const perPage = 30
	rows, err := d.store.ListOutbox(r.Context(), perPage, before)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	v := outboxView{page: p, Rows: rows}
	if len(rows) == perPage {
		v.Next = p.Link("/outbox", "before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
	}
	d.render(w, http.StatusOK, "outbox", v)
}
