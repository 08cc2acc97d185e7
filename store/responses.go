package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/npsgate/npsgate/survey"
)

const responseColumns = `id, delivery_id, survey_key, contact_id, channel, locale, score, category, comment,
	may_contact, created_at, updated_at, via`

// SaveResponse stores the answer to r.DeliveryID: a new response, or, when
// the delivery has one already, its score, category, comment, MayContact
// and UpdatedAt, keeping its ID and CreatedAt. It fills r.ID, r.CreatedAt
// and r.UpdatedAt and reports which happened. It stores r as given (an
// import, a seed); an answer from the respondent goes through
// AnswerDelivery or AnswerInbound, which apply the rules of an answer
// (see answerRules) as well.
//
// SurveyKey and ContactID are always the delivery's; Channel and Locale
// default to the delivery's, since an answer may come in another way than
// the survey went out (an SMS survey answered on the web page). An empty
// Category is derived from the score by the survey's kind, and a
// score outside the kind's range is refused (survey.ErrScoreOutOfRange).
// CreatedAt, when set on a new response, is kept (for imports); otherwise
// it is now. ErrNotFound if the delivery does not exist.
func (s *Store) SaveResponse(ctx context.Context, r *Response) (created bool, err error) {
	return s.saveResponse(ctx, r, nil)
}

// newResponseRow is r as a new row: a fresh ID, UpdatedAt now, CreatedAt
// that unless given. An existing answer keeps its own ID and CreatedAt.
func (s *Store) newResponseRow(r *Response) (Response, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Response{}, err
	}
	row := *r
	row.ID = id.String()
	row.UpdatedAt = s.now()
	if row.CreatedAt.IsZero() {
		row.CreatedAt = row.UpdatedAt
	}
	row.CreatedAt = utc(row.CreatedAt)
	return row, nil
}

// answerRules are what an answer from the respondent obeys beyond what
// SaveResponse stores, so that a changed answer carries nothing that
// belonged to the score it replaced:
//
//   - Consent to be contacted is asked of detractors alone (the reply and
//     thanks pages show the question in that band only), so an answer in
//     another band has none: MayContact nil. A detractor who said "you may
//     contact me" and then changes to a passive or promoter score is no
//     longer flagged for contact (the page's form even sends the hidden
//     choice back).
//   - A comment answers the follow-up question of its band
//     (survey.Text.FollowUp). A changed answer in another band that keeps
//     the comment it had (the page's form sends the text back as it was, a
//     bare SMS score keeps it) would show the old band's answer under the
//     new band's question: that comment is dropped, unless the new band
//     asks the same question as the old one. New words are kept.
type answerRules struct {
	// asked is the survey's text as the respondent was shown it (their
	// locale, the product named), which says which bands ask the same
	// follow-up; nil takes every band to ask its own, as the built-in
	// texts do.
	asked *survey.Text
}

// keepAny keeps whatever comment SaveResponse is given.
var keepAny = [3]string{string(survey.Detractor), string(survey.Passive), string(survey.Promoter)}

// apply sets what the rules decide before the row is written, MayContact
// for the row's category, and returns the categories a comment carried
// over from the stored answer is kept from: the comment is decided in
// SQL, against the stored answer (see commentSQL). Nil rules change
// nothing and keep any.
func (ar *answerRules) apply(row *Response) [3]string {
	if ar == nil {
		return keepAny
	}
	if row.Category != survey.Detractor {
		row.MayContact = nil
	}
	return ar.keepFrom(row.Category)
}

// keepFrom returns the categories whose follow-up question is c's, c
// among them: a comment written in one of them still answers what c
// asks. Three, padded with c, for a fixed "IN (…)".
func (ar *answerRules) keepFrom(c survey.Category) [3]string {
	keep := [3]string{string(c), string(c), string(c)}
	if ar.asked == nil {
		return keep
	}
	q := ar.asked.FollowUp(c)
	if q == "" {
		return keep
	}
	for i, o := range keepAny {
		if ar.asked.FollowUp(survey.Category(o)) == q {
			keep[i] = o
		}
	}
	return keep
}

// commentSQL is the new value of the comment column when an answer
// replaces the stored one, in the UPDATE of the stored row (whose columns
// are prefixed with old): the comment given, unless it is the stored one
// and the stored answer's band asked another question. comment and
// keep are placeholders.
func commentSQL(old, comment string, keep [3]string) string {
	return `CASE WHEN ` + old + `comment = ` + comment + ` AND ` + old + `category NOT IN (` + keep[0] + `, ` + keep[1] + `, ` +
		keep[2] + `) THEN '' ELSE ` + comment + ` END`
}

// saveResponse is SaveResponse with the rules of an answer; nil rules
// store r as given.
func (s *Store) saveResponse(ctx context.Context, r *Response, rules *answerRules) (created bool, err error) {
	op := fmt.Sprintf("save response to delivery %q", r.DeliveryID)
	row, err := s.newResponseRow(r)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", op, err)
	}
	err = s.InTx(ctx, func(tx *Store) error {
		var (
			d    Delivery
			kind survey.Kind
		)
		err := tx.q.QueryRowContext(ctx, `SELECT d.survey_key, d.contact_id, d.channel, d.locale, s.kind
			FROM deliveries d JOIN surveys s ON s.key = d.survey_key WHERE d.id = $1`, row.DeliveryID).
			Scan(&d.SurveyKey, &d.ContactID, &d.Channel, &d.Locale, &kind)
		if err != nil {
			return err
		}
		if err := kind.CheckScore(row.Score); err != nil {
			return err
		}
		row.SurveyKey, row.ContactID = d.SurveyKey, d.ContactID
		if row.Channel == "" {
			row.Channel = d.Channel
		}
		if row.Locale == "" {
			row.Locale = d.Locale
		}
		if row.Category == "" {
			row.Category = kind.CategoryOf(row.Score)
		}
		keep := rules.apply(&row)
		// Insert-or-nothing, then update: exact about which happened on
		// both dialects, and race-safe through the unique delivery_id.
		res, err := tx.q.ExecContext(ctx, `INSERT INTO responses (`+responseColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (delivery_id) DO NOTHING`,
			row.ID, row.DeliveryID, row.SurveyKey, row.ContactID, row.Channel, row.Locale, row.Score,
			string(row.Category), row.Comment, row.MayContact, tx.ts(row.CreatedAt), tx.ts(row.UpdatedAt), row.Via)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			created = true
			return err
		}
		// The SET expressions read the stored row as it was.
		return tx.q.QueryRowContext(ctx, `UPDATE responses
			SET score = $2, category = $3, comment = `+commentSQL("", "$4", [3]string{"$7", "$8", "$9"})+`,
				may_contact = $5, updated_at = $6
			WHERE delivery_id = $1 RETURNING id, created_at, channel, locale, comment`,
			row.DeliveryID, row.Score, string(row.Category), row.Comment, row.MayContact, tx.ts(row.UpdatedAt),
			keep[0], keep[1], keep[2],
		).Scan(&row.ID, timeCol{&row.CreatedAt}, &row.Channel, &row.Locale, &row.Comment)
	})
	if err != nil {
		return false, wrapErr(op, err)
	}
	*r = row
	return created, nil
}

// GetResponseByDelivery returns the response to a delivery, or ErrNotFound.
func (s *Store) GetResponseByDelivery(ctx context.Context, deliveryID string) (*Response, error) {
	r, err := scanResponse(s.q.QueryRowContext(ctx,
		`SELECT `+responseColumns+` FROM responses WHERE delivery_id = $1`, deliveryID))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get response to delivery %q", deliveryID), err)
	}
	return r, nil
}

// GetResponse returns the response with id, or ErrNotFound.
func (s *Store) GetResponse(ctx context.Context, id string) (*Response, error) {
	r, err := scanResponse(s.q.QueryRowContext(ctx, `SELECT `+responseColumns+` FROM responses WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get response %q", id), err)
	}
	return r, nil
}

// ResponseFilter selects responses for ListResponses. Zero fields do not
// filter.
type ResponseFilter struct {
	Survey   string
	Category survey.Category
	// From and To bound CreatedAt to [From, To).
	From, To time.Time
	// After is the cursor: the ID of the last response of the previous
	// page, as returned by ListResponses.
	After string
	// Limit is the page size: 100 if zero, at most 1000.
	Limit int
}

// ListResponses returns a page of responses in (CreatedAt, ID) order and
// the cursor of the next page, "" after the last. A cursor that names no
// response gives ErrNotFound.
func (s *Store) ListResponses(ctx context.Context, f ResponseFilter) ([]*Response, string, error) {
	const op = "list responses"
	var c conds
	if f.Survey != "" {
		c.add("survey_key = %s", f.Survey)
	}
	if f.Category != "" {
		c.add("category = %s", string(f.Category))
	}
	s.addRange(&c, f.From, f.To)
	if f.After != "" {
		var at time.Time
		err := s.q.QueryRowContext(ctx, `SELECT created_at FROM responses WHERE id = $1`, f.After).Scan(timeCol{&at})
		if err != nil {
			return nil, "", wrapErr(fmt.Sprintf("%s: cursor %q", op, f.After), err)
		}
		c.add("(created_at, id) > (%s, %s)", s.ts(at), f.After)
	}
	limit := pageLimit(f.Limit)
	// One extra row tells whether there is a next page.
	query := `SELECT ` + responseColumns + ` FROM responses` + c.where() +
		` ORDER BY created_at, id LIMIT ` + c.args.add(limit+1)
	rows, err := s.q.QueryContext(ctx, query, c.args...)
	if err != nil {
		return nil, "", wrapErr(op, err)
	}
	defer rows.Close()
	var out []*Response
	for rows.Next() {
		r, err := scanResponse(rows)
		if err != nil {
			return nil, "", wrapErr(op, err)
		}
		out = append(out, r)
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

// ScoreTally counts the responses of a survey created in [from, to) by
// score; zero times leave that end open.
func (s *Store) ScoreTally(ctx context.Context, surveyKey string, from, to time.Time) (survey.Tally, error) {
	op := fmt.Sprintf("score tally %q", surveyKey)
	var (
		c conds
		t survey.Tally
	)
	c.add("survey_key = %s", surveyKey)
	s.addRange(&c, from, to)
	rows, err := s.q.QueryContext(ctx, `SELECT score, COUNT(*) FROM responses`+c.where()+` GROUP BY score`, c.args...)
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
	if err := rows.Err(); err != nil {
		return survey.Tally{}, wrapErr(op, err)
	}
	return t, nil
}

func scanResponse(row scanner) (*Response, error) {
	var r Response
	err := row.Scan(&r.ID, &r.DeliveryID, &r.SurveyKey, &r.ContactID, &r.Channel, &r.Locale, &r.Score,
		&r.Category, &r.Comment, &r.MayContact, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt}, &r.Via)
	if err != nil {
		return nil, err
	}
	return &r, nil
}
