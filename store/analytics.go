package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/npsgate/npsgate/survey"
)

// Segment selects the responses that analytics count, by what was asked,
// when, how, and who answered. Zero fields do not filter. The funnel reads
// deliveries with the same segment and ignores the fields that only a
// response has (Category, scores, Text, WithComment).
type Segment struct {
	Survey string
	// From and To bound CreatedAt (of the response; of the delivery for
	// the funnel) to [From, To).
	From, To time.Time
	Campaign string
	Channel  string
	Locale   string
	// Account, Role and Attributes are the contact's; every attribute
	// given must have exactly the value given.
	Account    string
	Role       string
	Attributes map[string]string
	Category   survey.Category
	// MinScore and MaxScore bound the score, inclusive; nil is open.
	MinScore, MaxScore *int
	// Text is searched in the comment, ignoring case (ASCII case on
	// SQLite).
	Text string
	// WithComment keeps only responses with a comment.
	WithComment bool
}

// Dimensions a breakdown can group by; "attr.<name>" groups by a contact
// attribute.
const (
	BySurvey   = "survey"
	ByCampaign = "campaign"
	ByChannel  = "channel"
	ByLocale   = "locale"
	ByAccount  = "account"
	ByRole     = "role"
	// ByAttributePrefix followed by an attribute name groups by it.
	ByAttributePrefix = "attr."
)

// ParseDimension checks a breakdown dimension.
func ParseDimension(by string) (string, error) {
	switch by {
	case BySurvey, ByCampaign, ByChannel, ByLocale, ByAccount, ByRole:
		return by, nil
	}
	if name, ok := strings.CutPrefix(by, ByAttributePrefix); ok {
		if err := checkAttributeName(name); err != nil {
			return "", err
		}
		return by, nil
	}
	return "", fmt.Errorf("unknown dimension %q (want survey, campaign, channel, locale, account, role or attr.<name>)", by)
}

// checkAttributeName refuses names that cannot be written as a JSON path
// on SQLite. Imports take attribute names from CSV headers, so anything
// printable but a double quote or backslash is allowed.
func checkAttributeName(name string) error {
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "\"\\") {
		return fmt.Errorf("attribute name %q: want 1-100 characters without \" or \\", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("attribute name %q has a control character", name)
		}
	}
	return nil
}

// analyticsFrom joins a response (r) to its contact (c) and its delivery
// (d); both may be gone (an erased contact, a deleted delivery), so the
// joins are outer and their columns are read through COALESCE.
const analyticsFrom = ` FROM responses r
	LEFT JOIN contacts c ON c.external_id = r.contact_id
	LEFT JOIN deliveries d ON d.id = r.delivery_id`

// attrExpr reads a contact attribute as text; it is the one piece of
// analytics SQL that differs between the dialects.
func (s *Store) attrExpr(a *args, name string) string {
	if s.d.name == "postgres" {
		return "COALESCE(c.attributes ->> CAST(" + a.add(name) + " AS TEXT), '')"
	}
	return "COALESCE(json_extract(c.attributes, CAST(" + a.add(`$."`+name+`"`) + " AS TEXT)), '')"
}

// dimExpr is the SQL of a breakdown dimension over analyticsFrom.
func (s *Store) dimExpr(a *args, by string) (string, error) {
	switch by {
	case BySurvey:
		return "r.survey_key", nil
	case ByCampaign:
		return "COALESCE(d.campaign_id, '')", nil
	case ByChannel:
		return "r.channel", nil
	case ByLocale:
		return "r.locale", nil
	case ByAccount:
		return "COALESCE(c.account, '')", nil
	case ByRole:
		return "COALESCE(c.role, '')", nil
	}
	name, ok := strings.CutPrefix(by, ByAttributePrefix)
	if !ok {
		return "", fmt.Errorf("unknown dimension %q", by)
	}
	if err := checkAttributeName(name); err != nil {
		return "", err
	}
	return s.attrExpr(a, name), nil
}

// segmentConds adds g's conditions on responses (r) or, with deliveries
// set, on deliveries (d), with the contact as c in both.
func (s *Store) segmentConds(c *conds, g Segment, deliveries bool) error {
	t := "r"
	if deliveries {
		t = "d"
	}
	if g.Survey != "" {
		c.add(t+".survey_key = %s", g.Survey)
	}
	if !g.From.IsZero() {
		c.add(t+".created_at >= %s", s.ts(g.From))
	}
	if !g.To.IsZero() {
		c.add(t+".created_at < %s", s.ts(g.To))
	}
	if g.Campaign != "" {
		c.add("COALESCE(d.campaign_id, '') = %s", g.Campaign)
	}
	if g.Channel != "" {
		c.add(t+".channel = %s", g.Channel)
	}
	if g.Locale != "" {
		c.add(t+".locale = %s", g.Locale)
	}
	if g.Account != "" {
		c.add("COALESCE(c.account, '') = %s", g.Account)
	}
	if g.Role != "" {
		c.add("COALESCE(c.role, '') = %s", g.Role)
	}
	names := make([]string, 0, len(g.Attributes))
	for k := range g.Attributes {
		names = append(names, k)
	}
	sort.Strings(names) // the same SQL for the same segment
	for _, k := range names {
		if err := checkAttributeName(k); err != nil {
			return err
		}
		expr := s.attrExpr(&c.args, k)
		c.add(expr+" = %s", g.Attributes[k])
	}
	if deliveries {
		// A reminder shares its survey's reply link and is answered
		// through it: the funnel counts each survey message once.
		c.add("d.reminder_of = %s", "")
		return nil
	}
	if g.Category != "" {
		c.add("r.category = %s", string(g.Category))
	}
	if g.MinScore != nil {
		c.add("r.score >= %s", *g.MinScore)
	}
	if g.MaxScore != nil {
		c.add("r.score <= %s", *g.MaxScore)
	}
	if g.WithComment {
		c.add("r.comment <> %s", "")
	}
	if g.Text != "" {
		c.add(`LOWER(r.comment) LIKE LOWER(%s) ESCAPE '\'`, "%"+escapeLike(g.Text)+"%")
	}
	return nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SegmentTally counts the responses of the segment by score.
func (s *Store) SegmentTally(ctx context.Context, g Segment) (survey.Tally, error) {
	const op = "segment tally"
	var (
		c conds
		t survey.Tally
	)
	if err := s.segmentConds(&c, g, false); err != nil {
		return t, fmt.Errorf("store: %s: %w", op, err)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT r.score, COUNT(*)`+analyticsFrom+c.where()+` GROUP BY r.score`, c.args...)
	if err != nil {
		return t, wrapErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var score, n int
		if err := rows.Scan(&score, &n); err != nil {
			return survey.Tally{}, wrapErr(op, err)
		}
		if score >= 0 && score < len(t) {
			t[score] += n
		}
	}
	return t, wrapErr(op, rows.Err())
}

// GroupTally is the score tally of one value of a breakdown dimension.
type GroupTally struct {
	Key   string
	Tally survey.Tally
}

// BreakdownTally counts the responses of the segment by the dimension's
// value and score (see ParseDimension), ordered by value. Responses
// without a value (no account, an attribute not set) are the group "".
func (s *Store) BreakdownTally(ctx context.Context, g Segment, by string) ([]GroupTally, error) {
	op := "breakdown by " + by
	var c conds
	dim, err := s.dimExpr(&c.args, by)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	// GROUP BY position: the dimension holds a placeholder that
	// PostgreSQL would not match to a second copy of itself.
	rows, err := s.q.QueryContext(ctx, `SELECT `+dim+`, r.score, COUNT(*)`+analyticsFrom+c.where()+
		` GROUP BY 1, 2 ORDER BY 1, 2`, c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []GroupTally
	for rows.Next() {
		var (
			key      string
			score, n int
		)
		if err := rows.Scan(&key, &score, &n); err != nil {
			return nil, wrapErr(op, err)
		}
		if len(out) == 0 || out[len(out)-1].Key != key {
			out = append(out, GroupTally{Key: key})
		}
		if score >= 0 && score < len(survey.Tally{}) {
			out[len(out)-1].Tally[score] += n
		}
	}
	return out, wrapErr(op, rows.Err())
}

// PeriodTally counts the responses of the segment in each period
// [bounds[i], bounds[i+1]); bounds must ascend. It returns len(bounds)-1
// tallies. The periods are whatever the caller makes them (weeks in a time
// zone, quarters): the bucketing is one CASE over the boundaries, the
// same SQL on both dialects.
func (s *Store) PeriodTally(ctx context.Context, g Segment, bounds []time.Time) ([]survey.Tally, error) {
	const op = "period tally"
	if len(bounds) < 2 {
		return nil, fmt.Errorf("store: %s: need at least two bounds", op)
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i].After(bounds[i-1]) {
			return nil, fmt.Errorf("store: %s: bounds do not ascend at %d", op, i)
		}
	}
	var c conds
	var cases strings.Builder
	if len(bounds) == 2 {
		cases.WriteString("0")
	} else {
		cases.WriteString("CASE")
		for i := 1; i < len(bounds)-1; i++ {
			fmt.Fprintf(&cases, " WHEN r.created_at < %s THEN %d", c.args.add(s.ts(bounds[i])), i-1)
		}
		fmt.Fprintf(&cases, " ELSE %d END", len(bounds)-2)
	}
	c.add("r.created_at >= %s", s.ts(bounds[0]))
	c.add("r.created_at < %s", s.ts(bounds[len(bounds)-1]))
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+cases.String()+`, r.score, COUNT(*)`+analyticsFrom+c.where()+
		` GROUP BY 1, 2`, c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	out := make([]survey.Tally, len(bounds)-1)
	for rows.Next() {
		var p, score, n int
		if err := rows.Scan(&p, &score, &n); err != nil {
			return nil, wrapErr(op, err)
		}
		if p >= 0 && p < len(out) && score >= 0 && score < len(survey.Tally{}) {
			out[p][score] += n
		}
	}
	return out, wrapErr(op, rows.Err())
}

// FunnelStep counts the deliveries of one channel by how far they got.
// Each step counts the deliveries that reached it or any later one, so the
// funnel never widens: an SMS answered by text reply counts as opened.
type FunnelStep struct {
	Channel string
	// Total is every delivery made; Sent left the gateway.
	Total, Sent int
	// Delivered is confirmed by the provider; nil when the channel
	// confirmed none (email over SMTP, chat robots), so "not reported"
	// is not shown as zero.
	Delivered *int
	// Opened opened the reply page; Answered has a response.
	Opened, Answered int
	// Pending is queued, sending or deferred; Failed and Suppressed are
	// the deliveries in those states.
	Pending, Failed, Suppressed int
}

// Funnel counts the survey messages of the segment per channel (reminders
// are not counted apart: they share their survey's link), ordered by
// channel.
func (s *Store) Funnel(ctx context.Context, g Segment) ([]FunnelStep, error) {
	const op = "funnel"
	var c conds
	if err := s.segmentConds(&c, g, true); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	const (
		answered  = "r.id IS NOT NULL"
		opened    = "d.opened_at IS NOT NULL OR " + answered
		delivered = "d.delivered_at IS NOT NULL OR " + opened
		sent      = "d.sent_at IS NOT NULL OR " + delivered
	)
	count := func(cond string) string { return "SUM(CASE WHEN " + cond + " THEN 1 ELSE 0 END)" }
	query := `SELECT d.channel, COUNT(*), ` + count(sent) + `, ` + count(delivered) + `, ` +
		count("d.delivered_at IS NOT NULL") + `, ` + count(opened) + `, ` + count(answered) + `, ` +
		count("d.status IN ('queued', 'sending', 'deferred')") + `, ` + count("d.status = 'failed'") + `, ` +
		count("d.status = 'suppressed'") + `
		FROM deliveries d
		LEFT JOIN responses r ON r.delivery_id = d.id
		LEFT JOIN contacts c ON c.external_id = d.contact_id` + c.where() + `
		GROUP BY d.channel ORDER BY d.channel`
	rows, err := s.q.QueryContext(ctx, query, c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []FunnelStep
	for rows.Next() {
		var (
			f                    FunnelStep
			delivered, confirmed int
		)
		if err := rows.Scan(&f.Channel, &f.Total, &f.Sent, &delivered, &confirmed, &f.Opened, &f.Answered,
			&f.Pending, &f.Failed, &f.Suppressed); err != nil {
			return nil, wrapErr(op, err)
		}
		if confirmed > 0 {
			f.Delivered = &delivered
		}
		out = append(out, f)
	}
	return out, wrapErr(op, rows.Err())
}

// MarkOpened records the first time a delivery's reply page was opened.
// Later opens change nothing. A delivery that does not exist is no error:
// there is nothing to record.
func (s *Store) MarkOpened(ctx context.Context, deliveryID string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	_, err := s.q.ExecContext(ctx, `UPDATE deliveries SET opened_at = $2 WHERE id = $1 AND opened_at IS NULL`,
		deliveryID, s.ts(at))
	return wrapErr(fmt.Sprintf("mark delivery %q opened", deliveryID), err)
}

// AnalyticsRow is a response with who gave it, for comment lists and
// exports.
type AnalyticsRow struct {
	Response
	CampaignID string
	// The contact's, empty when the contact was erased.
	ContactName  string
	ContactEmail string
	Account      string
	Role         string
	Tags         []string
	Attributes   map[string]string
}

const analyticsColumns = `r.id, r.delivery_id, r.survey_key, r.contact_id, r.channel, r.locale, r.score, r.category,
	r.comment, r.may_contact, r.created_at, r.updated_at, COALESCE(d.campaign_id, ''), COALESCE(c.name, ''),
	COALESCE(c.email, ''), COALESCE(c.account, ''), COALESCE(c.role, ''), c.tags, c.attributes`

func scanAnalyticsRow(row scanner) (*AnalyticsRow, error) {
	var a AnalyticsRow
	err := row.Scan(&a.ID, &a.DeliveryID, &a.SurveyKey, &a.ContactID, &a.Channel, &a.Locale, &a.Score, &a.Category,
		&a.Comment, &a.MayContact, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &a.CampaignID, &a.ContactName,
		&a.ContactEmail, &a.Account, &a.Role, jsonCol{&a.Tags}, jsonCol{&a.Attributes})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// CommentOrder is the order of ListComments.
type CommentOrder string

const (
	// WorstFirst lists the lowest scores first (detractors), newest
	// first within a score.
	WorstFirst  CommentOrder = "worst"
	NewestFirst CommentOrder = "newest"
)

// ListComments returns a page of the segment's responses that have a
// comment, with who gave them, and how many there are in all. limit is
// 50 if zero, at most 500.
func (s *Store) ListComments(ctx context.Context, g Segment, order CommentOrder, limit, offset int) ([]*AnalyticsRow, int, error) {
	const op = "list comments"
	g.WithComment = true
	var c conds
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, 0, fmt.Errorf("store: %s: %w", op, err)
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*)`+analyticsFrom+c.where(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(op, err)
	}
	switch {
	case limit <= 0:
		limit = 50
	case limit > 500:
		limit = 500
	}
	offset = max(offset, 0)
	orderBy := " ORDER BY r.score, r.created_at DESC, r.id"
	if order == NewestFirst {
		orderBy = " ORDER BY r.created_at DESC, r.id"
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+analyticsColumns+analyticsFrom+c.where()+orderBy+
		` LIMIT `+c.args.add(limit)+` OFFSET `+c.args.add(offset), c.args...)
	if err != nil {
		return nil, 0, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*AnalyticsRow
	for rows.Next() {
		a, err := scanAnalyticsRow(rows)
		if err != nil {
			return nil, 0, wrapErr(op, err)
		}
		out = append(out, a)
	}
	return out, total, wrapErr(op, rows.Err())
}

// ExportResponses returns a page of the segment's responses with who gave
// them, in (CreatedAt, ID) order, and the cursor of the next page ("" after
// the last): the ID of the last response of this one. limit is 1000 if
// zero, at most 5000.
func (s *Store) ExportResponses(ctx context.Context, g Segment, after string, limit int) ([]*AnalyticsRow, string, error) {
	const op = "export responses"
	var c conds
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, "", fmt.Errorf("store: %s: %w", op, err)
	}
	if after != "" {
		var at time.Time
		err := s.q.QueryRowContext(ctx, `SELECT created_at FROM responses WHERE id = $1`, after).Scan(timeCol{&at})
		if err != nil {
			return nil, "", wrapErr(fmt.Sprintf("%s: cursor %q", op, after), err)
		}
		c.add("(r.created_at, r.id) > (%s, %s)", s.ts(at), after)
	}
	switch {
	case limit <= 0:
		limit = 1000
	case limit > 5000:
		limit = 5000
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+analyticsColumns+analyticsFrom+c.where()+
		` ORDER BY r.created_at, r.id LIMIT `+c.args.add(limit+1), c.args...)
	if err != nil {
		return nil, "", wrapErr(op, err)
	}
	defer rows.Close()
	var out []*AnalyticsRow
	for rows.Next() {
		a, err := scanAnalyticsRow(rows)
		if err != nil {
			return nil, "", wrapErr(op, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrapErr(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// AttributeNames lists, sorted, the attribute names of the contacts who
// gave the segment's responses: the columns of an export, the choices of
// a breakdown.
func (s *Store) AttributeNames(ctx context.Context, g Segment) ([]string, error) {
	const op = "attribute names"
	var c conds
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	query := `SELECT DISTINCT j.key` + analyticsFrom + `, json_each(c.attributes) j` + c.where()
	if s.d.name == "postgres" {
		query = `SELECT DISTINCT jsonb_object_keys(c.attributes)` + analyticsFrom + c.where()
	}
	rows, err := s.q.QueryContext(ctx, query, c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out, wrapErr(op, rows.Err())
}

// DeliveryRow is a delivery as the dashboard lists it.
type DeliveryRow struct {
	ID, SurveyKey, ContactID, ContactName, Account string
	Channel, Address, Locale                       string
	Status                                         DeliveryStatus
	Reason, CampaignID, Source                     string
	Attempts                                       int
	CreatedAt                                      time.Time
	SentAt, DeliveredAt, OpenedAt, RespondedAt     *time.Time
}

// DeliveryQuery selects deliveries for ListDeliveries; zero fields do not
// filter.
type DeliveryQuery struct {
	Survey, Campaign, Channel string
	Status                    DeliveryStatus
	// Limit is 50 if zero, at most 500.
	Limit, Offset int
}

// ListDeliveries returns a page of deliveries, newest first, with their
// contact's name and account, and how many match in all.
func (s *Store) ListDeliveries(ctx context.Context, q DeliveryQuery) ([]*DeliveryRow, int, error) {
	const op = "list deliveries"
	var c conds
	if q.Survey != "" {
		c.add("d.survey_key = %s", q.Survey)
	}
	if q.Campaign != "" {
		c.add("d.campaign_id = %s", q.Campaign)
	}
	if q.Channel != "" {
		c.add("d.channel = %s", q.Channel)
	}
	if q.Status != "" {
		c.add("d.status = %s", string(q.Status))
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries d`+c.where(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(op, err)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 500:
		limit = 500
	}
	rows, err := s.q.QueryContext(ctx, `SELECT d.id, d.survey_key, d.contact_id, COALESCE(c.name, ''),
			COALESCE(c.account, ''), d.channel, d.address, d.locale, d.status, d.reason, d.campaign_id, d.source,
			d.attempts, d.created_at, d.sent_at, d.delivered_at, d.opened_at, d.responded_at
		FROM deliveries d LEFT JOIN contacts c ON c.external_id = d.contact_id`+c.where()+`
		ORDER BY d.created_at DESC, d.id LIMIT `+c.args.add(limit)+` OFFSET `+c.args.add(max(q.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*DeliveryRow
	for rows.Next() {
		var d DeliveryRow
		if err := rows.Scan(&d.ID, &d.SurveyKey, &d.ContactID, &d.ContactName, &d.Account, &d.Channel, &d.Address,
			&d.Locale, &d.Status, &d.Reason, &d.CampaignID, &d.Source, &d.Attempts, timeCol{&d.CreatedAt},
			nullTimeCol{&d.SentAt}, nullTimeCol{&d.DeliveredAt}, nullTimeCol{&d.OpenedAt},
			nullTimeCol{&d.RespondedAt}); err != nil {
			return nil, 0, wrapErr(op, err)
		}
		out = append(out, &d)
	}
	return out, total, wrapErr(op, rows.Err())
}

// CommentText is a comment and its category, for word counts.
type CommentText struct {
	Category survey.Category
	Text     string
}

// CommentTexts returns the comments of the segment's responses, newest
// first, at most limit of them (5000 if zero, at most 50000).
func (s *Store) CommentTexts(ctx context.Context, g Segment, limit int) ([]CommentText, error) {
	const op = "comment texts"
	g.WithComment = true
	var c conds
	if err := s.segmentConds(&c, g, false); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	switch {
	case limit <= 0:
		limit = 5000
	case limit > 50000:
		limit = 50000
	}
	rows, err := s.q.QueryContext(ctx, `SELECT r.category, r.comment`+analyticsFrom+c.where()+
		` ORDER BY r.created_at DESC, r.id LIMIT `+c.args.add(limit), c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []CommentText
	for rows.Next() {
		var t CommentText
		if err := rows.Scan(&t.Category, &t.Text); err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, t)
	}
	return out, wrapErr(op, rows.Err())
}
