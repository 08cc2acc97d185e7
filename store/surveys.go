package store

import (
	"context"
	"fmt"
	"time"

	"github.com/npsgate/npsgate/survey"
)

const surveyColumns = `key, kind, product_name, texts, channels, templates, reply_window_ms, created_at, updated_at, alert_targets, fatigue, reminders, digest, digest_next_at, digest_last_at`

// CreateSurvey inserts sv and sets its CreatedAt and UpdatedAt. An empty
// Kind becomes survey.NPS. A key that exists gives ErrConflict.
func (s *Store) CreateSurvey(ctx context.Context, sv *Survey) error {
	op := fmt.Sprintf("create survey %q", sv.Key)
	if sv.Key == "" {
		return fmt.Errorf("store: create survey: empty key")
	}
	kind, texts, channels, templates, err := surveyArgs(sv)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	targets, err := jsonArg(sv.AlertTargets, "[]")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	fatigue, reminders, digest, err := surveyExtras(sv)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	now := s.now()
	_, err = s.q.ExecContext(ctx, `INSERT INTO surveys (`+surveyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, NULL)`,
		sv.Key, kind, sv.ProductName, texts, channels, templates, sv.ReplyWindow.Milliseconds(), s.ts(now), targets, fatigue,
		reminders, digest, s.tsPtr(sv.DigestNextAt))
	if err != nil {
		return wrapErr(op, err)
	}
	sv.Kind, sv.CreatedAt, sv.UpdatedAt = kind, now, now
	return nil
}

// UpdateSurvey replaces every field of the survey with key sv.Key except
// CreatedAt, which it fills in, and sets UpdatedAt. ErrNotFound if missing.
func (s *Store) UpdateSurvey(ctx context.Context, sv *Survey) error {
	op := fmt.Sprintf("update survey %q", sv.Key)
	kind, texts, channels, templates, err := surveyArgs(sv)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	targets, err := jsonArg(sv.AlertTargets, "[]")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	fatigue, reminders, digest, err := surveyExtras(sv)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	now := s.now()
	var created time.Time
	err = s.q.QueryRowContext(ctx, `UPDATE surveys SET kind = $2, product_name = $3, texts = $4,
			channels = $5, templates = $6, reply_window_ms = $7, updated_at = $8, alert_targets = $9, fatigue = $10,
			reminders = $11, digest = $12, digest_next_at = $13
		WHERE key = $1 RETURNING created_at`,
		sv.Key, kind, sv.ProductName, texts, channels, templates, sv.ReplyWindow.Milliseconds(), s.ts(now), targets, fatigue,
		reminders, digest, s.tsPtr(sv.DigestNextAt),
	).Scan(timeCol{&created})
	if err != nil {
		return wrapErr(op, err)
	}
	sv.Kind, sv.CreatedAt, sv.UpdatedAt = kind, created, now
	return nil
}

func surveyArgs(sv *Survey) (kind survey.Kind, texts, channels, templates string, err error) {
	kind = sv.Kind
	if kind == "" {
		kind = survey.NPS
	}
	if _, err := survey.ParseKind(string(kind)); err != nil {
		return "", "", "", "", err
	}
	if texts, err = jsonArg(sv.Texts, "{}"); err != nil {
		return
	}
	if channels, err = jsonArg(sv.Channels, "[]"); err != nil {
		return
	}
	templates, err = jsonArg(sv.Templates, "{}")
	return
}

// GetSurvey returns the survey with key, or ErrNotFound.
func (s *Store) GetSurvey(ctx context.Context, key string) (*Survey, error) {
	sv, err := scanSurvey(s.q.QueryRowContext(ctx, `SELECT `+surveyColumns+` FROM surveys WHERE key = $1`, key))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get survey %q", key), err)
	}
	return sv, nil
}

// ListSurveys returns every survey, by key.
func (s *Store) ListSurveys(ctx context.Context) ([]*Survey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+surveyColumns+` FROM surveys ORDER BY key`)
	if err != nil {
		return nil, wrapErr("list surveys", err)
	}
	defer rows.Close()
	var out []*Survey
	for rows.Next() {
		sv, err := scanSurvey(rows)
		if err != nil {
			return nil, wrapErr("list surveys", err)
		}
		out = append(out, sv)
	}
	return out, wrapErr("list surveys", rows.Err())
}

func scanSurvey(row scanner) (*Survey, error) {
	var (
		sv       Survey
		windowMS int64
	)
	err := row.Scan(&sv.Key, &sv.Kind, &sv.ProductName, jsonCol{&sv.Texts}, jsonCol{&sv.Channels},
		jsonCol{&sv.Templates}, &windowMS, timeCol{&sv.CreatedAt}, timeCol{&sv.UpdatedAt}, jsonCol{&sv.AlertTargets}, jsonCol{&sv.Fatigue},
		jsonCol{&sv.Reminders}, jsonCol{&sv.Digest}, nullTimeCol{&sv.DigestNextAt}, nullTimeCol{&sv.DigestLastAt})
	if err != nil {
		return nil, err
	}
	sv.ReplyWindow = time.Duration(windowMS) * time.Millisecond
	return &sv, nil
}

func surveyExtras(sv *Survey) (fatigue, reminders, digest string, err error) {
	if fatigue, err = jsonArg(sv.Fatigue, "{}"); err != nil {
		return
	}
	if reminders, err = jsonArg(sv.Reminders, "[]"); err != nil {
		return
	}
	digest, err = jsonArg(sv.Digest, "{}")
	return
}

// DueDigests returns surveys whose digest is due at now.
func (s *Store) DueDigests(ctx context.Context, now time.Time) ([]*Survey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+surveyColumns+` FROM surveys
		WHERE digest_next_at IS NOT NULL AND digest_next_at <= $1 ORDER BY digest_next_at LIMIT 100`, s.ts(now))
	if err != nil {
		return nil, wrapErr("due digests", err)
	}
	defer rows.Close()
	var out []*Survey
	for rows.Next() {
		sv, err := scanSurvey(rows)
		if err != nil {
			return nil, wrapErr("due digests", err)
		}
		out = append(out, sv)
	}
	return out, wrapErr("due digests", rows.Err())
}

// AdvanceDigest moves a survey's digest from due to next, recording last,
// if it is still due at due: the compare-and-set that makes one digest
// per period however many workers see it due.
func (s *Store) AdvanceDigest(ctx context.Context, key string, due, last time.Time, next *time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE surveys SET digest_next_at = $1, digest_last_at = $2
		WHERE key = $3 AND digest_next_at = $4`, s.tsPtr(next), s.ts(last), key, s.ts(due))
	if err != nil {
		return false, wrapErr("advance digest", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr("advance digest", err)
}
