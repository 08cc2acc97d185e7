package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/npsgate/npsgate/survey"
)

// The answer paths (the reply page and inbound texts) read and write in as
// few round trips as they can: one read for the delivery, its survey's
// version and its answer, and on PostgreSQL one statement for the answer,
// the delivery's status and its event.

// Reply is what answering a delivery starts from.
type Reply struct {
	Delivery *Delivery
	// SurveyUpdatedAt is the UpdatedAt of the delivery's survey, which
	// tells a cached copy of the survey from a stale one; SurveyFound is
	// false when the survey does not exist.
	SurveyUpdatedAt time.Time
	SurveyFound     bool
	// Response is the answer to the delivery so far, nil if none.
	Response *Response
}

// prefixColumns qualifies each of a column list's columns with alias.
func prefixColumns(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

var (
	replyDeliveryColumns = prefixColumns(deliveryColumns, "d")
	replyResponseColumns = prefixColumns(responseColumns, "r")
)

// appendScanner scans a row into dest followed by extra, so that a row with
// more columns than a scan function knows can still use it.
type appendScanner struct {
	row   scanner
	extra []any
}

func (a appendScanner) Scan(dest ...any) error {
	return a.row.Scan(append(dest, a.extra...)...)
}

// nullResponse scans the columns of a LEFT JOINed response, all NULL when
// there is none.
type nullResponse struct {
	id, deliveryID, surveyKey, contactID, channel, locale, category, comment *string
	score, via                                                               *int
	mayContact                                                               *bool
	createdAt, updatedAt                                                     time.Time
}

func (n *nullResponse) dest() []any {
	return []any{&n.id, &n.deliveryID, &n.surveyKey, &n.contactID, &n.channel, &n.locale, &n.score,
		&n.category, &n.comment, &n.mayContact, timeCol{&n.createdAt}, timeCol{&n.updatedAt}, &n.via}
}

func (n *nullResponse) response() *Response {
	if n.id == nil {
		return nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	num := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	return &Response{ID: *n.id, DeliveryID: str(n.deliveryID), SurveyKey: str(n.surveyKey), ContactID: str(n.contactID),
		Channel: str(n.channel), Locale: str(n.locale), Score: num(n.score), Category: survey.Category(str(n.category)),
		Comment: str(n.comment), MayContact: n.mayContact, CreatedAt: n.createdAt, UpdatedAt: n.updatedAt, Via: num(n.via)}
}

// GetReplyByToken reads the delivery of a reply token, its survey's version
// and its answer so far, in one query. ErrNotFound if no delivery has the
// token.
func (s *Store) GetReplyByToken(ctx context.Context, token string) (*Reply, error) {
	var (
		surveyKey *string
		surveyAt  time.Time
		resp      nullResponse
	)
	row := s.q.QueryRowContext(ctx, `SELECT `+replyDeliveryColumns+`, sv.key, sv.updated_at, `+replyResponseColumns+`
		FROM deliveries d
		LEFT JOIN surveys sv ON sv.key = d.survey_key
		LEFT JOIN responses r ON r.delivery_id = d.id
		WHERE d.token = $1`, token)
	d, err := scanDelivery(appendScanner{row, append([]any{&surveyKey, timeCol{&surveyAt}}, resp.dest()...)})
	if err != nil {
		return nil, wrapErr("get reply by token", err)
	}
	return &Reply{Delivery: d, SurveyUpdatedAt: surveyAt, SurveyFound: surveyKey != nil, Response: resp.response()}, nil
}

// ReplyCandidate is a delivery an inbound reply may answer (see
// ReplyCandidatesTo).
type ReplyCandidate struct {
	Delivery        *Delivery
	SurveyUpdatedAt time.Time
	SurveyFound     bool
	// Response is the answer so far to the survey the delivery belongs
	// to: its own, or its parent's when it is a reminder. nil if none.
	Response *Response
}

// ReplyCandidatesTo is RecentDeliveriesTo with, for each delivery, its
// survey's version and the answer so far to the survey delivery it belongs
// to (the parent of a reminder), in one query.
func (s *Store) ReplyCandidatesTo(ctx context.Context, channels []string, address string, since time.Time, limit int) ([]*ReplyCandidate, error) {
	op := "reply candidates to address"
	if len(channels) == 0 {
		return nil, nil
	}
	c := s.replyTargets("d.", channels, address, since)
	rows, err := s.q.QueryContext(ctx, `SELECT `+replyDeliveryColumns+`, sv.key, sv.updated_at, `+replyResponseColumns+`
		FROM deliveries d
		LEFT JOIN surveys sv ON sv.key = d.survey_key
		LEFT JOIN responses r ON r.delivery_id = CASE WHEN d.reminder_of = '' THEN d.id ELSE d.reminder_of END`+
		c.where()+` ORDER BY d.created_at DESC, d.id DESC LIMIT `+c.args.add(pageLimit(limit)), c.args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*ReplyCandidate
	for rows.Next() {
		var (
			surveyKey *string
			surveyAt  time.Time
			resp      nullResponse
		)
		d, err := scanDelivery(appendScanner{rows, append([]any{&surveyKey, timeCol{&surveyAt}}, resp.dest()...)})
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, &ReplyCandidate{Delivery: d, SurveyUpdatedAt: surveyAt, SurveyFound: surveyKey != nil,
			Response: resp.response()})
	}
	return out, wrapErr(op, rows.Err())
}

// ErrInboundSeen is AnswerInbound's answer to a message recorded before:
// nothing was written.
var ErrInboundSeen = errors.New("store: inbound message recorded before")

// AnswerDelivery saves r as SaveResponse does and, with it, moves the
// delivery to responded when its status is one of from (recording the
// event), as Transition does: on PostgreSQL in one statement (one round
// trip, one commit), on SQLite in one transaction. An answer is thus never
// stored without its delivery being marked answered, which is what stops
// the delivery's reminders (see the sender's reminder gate).
//
// kind is the kind of the delivery's survey, which the caller has read:
// a score outside its range is refused (survey.ErrScoreOutOfRange) and an
// empty Category derived from it. moved reports whether the status changed.
// ErrNotFound if the delivery does not exist.
//
// Unlike SaveResponse it applies the rules of an answer, which matter when
// the respondent changes it: outside the detractor band MayContact is nil,
// and a comment carried over unchanged from an answer in another band is
// dropped unless that band asked the same follow-up question. asked (one,
// optional) is the survey's text as the respondent was shown it, which
// tells; without it every band is taken to ask its own question, as the
// built-in texts do. r afterwards holds what was stored.
func (s *Store) AnswerDelivery(ctx context.Context, r *Response, kind survey.Kind, from []DeliveryStatus, asked ...survey.Text) (created, moved bool, err error) {
	return s.answer(ctx, nil, nil, r, kind, from, asked)
}

// AnswerInbound is AnswerDelivery for an answer that came as the inbound
// message m, which it records (RecordInbound) in the same statement or
// transaction: when m was recorded before (a provider's retry) it writes
// nothing and returns ErrInboundSeen. d is the delivery answered, as the
// caller read it: r takes its survey key and contact (and, when empty,
// its channel and locale). asked is as for AnswerDelivery.
func (s *Store) AnswerInbound(ctx context.Context, m *InboundMessage, d *Delivery, r *Response, kind survey.Kind, from []DeliveryStatus, asked ...survey.Text) (created, moved bool, err error) {
	if m == nil || d == nil {
		return false, false, errors.New("store: answer inbound: no message or delivery")
	}
	return s.answer(ctx, m, d, r, kind, from, asked)
}

func (s *Store) answer(ctx context.Context, m *InboundMessage, d *Delivery, r *Response, kind survey.Kind, from []DeliveryStatus, asked []survey.Text) (created, moved bool, err error) {
	op := fmt.Sprintf("answer delivery %q", r.DeliveryID)
	if len(from) == 0 {
		return false, false, fmt.Errorf("store: %s: no from status", op)
	}
	if len(asked) > 1 {
		return false, false, fmt.Errorf("store: %s: %d texts asked, want at most one", op, len(asked))
	}
	rules := &answerRules{}
	if len(asked) == 1 {
		rules.asked = &asked[0]
	}
	if s.d.name != postgresDialect.name {
		err = s.InTx(ctx, func(tx *Store) error {
			if m != nil {
				claimed, err := tx.RecordInbound(ctx, m)
				if err != nil {
					return err
				}
				if !claimed {
					return ErrInboundSeen
				}
			}
			var err error
			if created, err = tx.saveResponse(ctx, r, rules); err != nil {
				return err
			}
			moved, err = tx.Transition(ctx, r.DeliveryID, from, StatusResponded, Update{})
			return err
		})
		return created, moved, err
	}
	if err := kind.CheckScore(r.Score); err != nil {
		return false, false, fmt.Errorf("store: %s: %w", op, err)
	}
	row, err := s.newResponseRow(r)
	if err != nil {
		return false, false, fmt.Errorf("store: %s: %w", op, err)
	}
	if row.Category == "" {
		row.Category = kind.CategoryOf(row.Score)
	}
	keep := rules.apply(&row)
	var a args
	// $1 … $14: the response and the categories to keep a comment from;
	// then the statuses, then the message.
	for _, v := range []any{row.ID, row.DeliveryID, row.Channel, row.Locale, row.Score, string(row.Category),
		row.Comment, row.MayContact, s.ts(row.CreatedAt), s.ts(row.UpdatedAt), row.Via, keep[0], keep[1], keep[2]} {
		a.add(v)
	}
	in := make([]string, len(from))
	for i, st := range from {
		in[i] = a.add(string(st))
	}
	// The response takes survey_key and contact_id from the delivery: from
	// the table (no row when it does not exist), or, with a message, from
	// the delivery the caller read (the foreign key refuses one that is
	// gone, failing the whole statement, claim included). ON CONFLICT DO
	// UPDATE is race-safe on the unique delivery_id, and xmax = 0 marks a
	// row it inserted. The update keeps id, created_at, channel, locale and
	// via, as SaveResponse does; "responses." is the stored row, for the
	// comment's rule.
	source := `SELECT $1, d.id, d.survey_key, d.contact_id, COALESCE(NULLIF($3::text, ''), d.channel),
				COALESCE(NULLIF($4::text, ''), d.locale), $5::smallint, $6::text, $7::text, $8::boolean,
				$9::timestamptz, $10::timestamptz, $11::integer
			FROM deliveries d WHERE d.id = $2`
	claim, claimed := "", "1"
	if m != nil {
		at := m.CreatedAt
		if at.IsZero() {
			at = s.now()
		}
		at = utc(at)
		m.CreatedAt = at
		claim = `claim AS (
			INSERT INTO inbound_messages (provider, provider_message_id, channel, from_address, to_address, body,
				delivery_id, outcome, created_at)
			VALUES (` + a.add(m.Provider) + `, ` + a.add(m.ProviderMessageID) + `, ` + a.add(m.Channel) + `, ` +
			a.add(m.From) + `, ` + a.add(m.To) + `, ` + a.add(m.Body) + `, ` + a.add(m.DeliveryID) + `, ` +
			a.add(m.Outcome) + `, ` + a.add(s.ts(at)) + `)
			ON CONFLICT (provider, provider_message_id) DO NOTHING
			RETURNING id
		), `
		claimed = `(SELECT count(*) FROM claim)`
		source = `SELECT $1, $2, ` + a.add(d.SurveyKey) + `::text, ` + a.add(d.ContactID) + `::text, COALESCE(NULLIF($3::text, ''), ` +
			a.add(d.Channel) + `::text), COALESCE(NULLIF($4::text, ''), ` + a.add(d.Locale) + `::text), $5::smallint,
				$6::text, $7::text, $8::boolean, $9::timestamptz, $10::timestamptz, $11::integer
			WHERE EXISTS (SELECT 1 FROM claim)`
	}
	query := `WITH ` + claim + `resp AS (
			INSERT INTO responses (` + responseColumns + `)
			` + source + `
			ON CONFLICT (delivery_id) DO UPDATE SET score = EXCLUDED.score, category = EXCLUDED.category,
				comment = ` + commentSQL("responses.", "EXCLUDED.comment", [3]string{"$12", "$13", "$14"}) + `,
				may_contact = EXCLUDED.may_contact, updated_at = EXCLUDED.updated_at
			RETURNING id, created_at, survey_key, contact_id, channel, locale, comment, (xmax = 0) AS created
		), moved AS (
			UPDATE deliveries SET status = 'responded', updated_at = $10::timestamptz,
				responded_at = COALESCE(responded_at, $10::timestamptz)
			WHERE id = $2 AND status IN (` + strings.Join(in, ", ") + `) AND EXISTS (SELECT 1 FROM resp)
			RETURNING id
		), ev AS (
			INSERT INTO delivery_events (delivery_id, status, reason, at)
			SELECT id, 'responded', '', $10::timestamptz FROM moved
		)
		SELECT ` + claimed + `, r.id, r.created_at, r.survey_key, r.contact_id, r.channel, r.locale, r.comment, r.created,
			(SELECT count(*) FROM moved)
		FROM (SELECT 1) one LEFT JOIN resp r ON true`
	var (
		nClaim, nMoved                                      int
		rid, surveyKey, contactID, channel, locale, comment *string
		isNew                                               *bool
		createdAt                                           time.Time
	)
	err = s.q.QueryRowContext(ctx, query, a...).Scan(&nClaim, &rid, timeCol{&createdAt}, &surveyKey, &contactID,
		&channel, &locale, &comment, &isNew, &nMoved)
	if err != nil {
		return false, false, wrapErr(op, err)
	}
	if nClaim == 0 {
		return false, false, ErrInboundSeen
	}
	if rid == nil {
		return false, false, fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	row.ID, row.CreatedAt, row.SurveyKey, row.ContactID, row.Channel, row.Locale = *rid, createdAt, *surveyKey, *contactID, *channel, *locale
	row.Comment = *comment
	*r = row
	return isNew != nil && *isNew, nMoved > 0, nil
}
