package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

const alertRuleColumns = `id, name, survey_key, categories, score_min, score_max, attributes, comment, priority,
	targets, enabled, created_at, updated_at`

// SaveAlertRule inserts the rule, or replaces the one with its ID, and
// fills CreatedAt and UpdatedAt.
func (s *Store) SaveAlertRule(ctx context.Context, r *AlertRule) error {
	op := fmt.Sprintf("save alert rule %q", r.ID)
	cats, err := jsonArg(r.Categories, "[]")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	attrs, err := jsonArg(r.Attributes, "{}")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	targets, err := jsonArg(r.Targets, "[]")
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	now := s.now()
	var created time.Time
	err = s.q.QueryRowContext(ctx, `INSERT INTO alert_rules (`+alertRuleColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
		ON CONFLICT (id) DO UPDATE SET name = $2, survey_key = $3, categories = $4, score_min = $5,
			score_max = $6, attributes = $7, comment = $8, priority = $9, targets = $10, enabled = $11,
			updated_at = $12
		RETURNING created_at`,
		r.ID, r.Name, r.Survey, cats, r.ScoreMin, r.ScoreMax, attrs, r.Comment, r.Priority, targets, r.Enabled,
		s.ts(now)).Scan(timeCol{&created})
	if err != nil {
		return wrapErr(op, err)
	}
	r.CreatedAt, r.UpdatedAt = created, now
	return nil
}

// GetAlertRule returns the rule with id, or ErrNotFound.
func (s *Store) GetAlertRule(ctx context.Context, id string) (*AlertRule, error) {
	r, err := scanAlertRule(s.q.QueryRowContext(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE id = $1`, id))
	return r, wrapErr(fmt.Sprintf("get alert rule %q", id), err)
}

// DeleteAlertRule removes a rule; ErrNotFound if there is none.
func (s *Store) DeleteAlertRule(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM alert_rules WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete alert rule", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return wrapErr("delete alert rule", ErrNotFound)
	}
	return nil
}

// ListAlertRules returns every rule, oldest first.
func (s *Store) ListAlertRules(ctx context.Context) ([]*AlertRule, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list alert rules", err)
	}
	defer rows.Close()
	var out []*AlertRule
	for rows.Next() {
		r, err := scanAlertRule(rows)
		if err != nil {
			return nil, wrapErr("list alert rules", err)
		}
		out = append(out, r)
	}
	return out, wrapErr("list alert rules", rows.Err())
}

func scanAlertRule(row scanner) (*AlertRule, error) {
	var r AlertRule
	err := row.Scan(&r.ID, &r.Name, &r.Survey, jsonCol{&r.Categories}, &r.ScoreMin, &r.ScoreMax,
		jsonCol{&r.Attributes}, &r.Comment, &r.Priority, jsonCol{&r.Targets}, &r.Enabled,
		timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

const alertColumns = `id, response_id, rule_id, target_channel, target_address, target_key, priority, status, sends,
	sent_comment, provider_message_id, reason, created_at, updated_at`

// CreateAlert inserts the alert unless one exists for its response, rule
// and target; either way it returns the stored alert and whether it was
// created, so a response notified twice raises one alert.
func (s *Store) CreateAlert(ctx context.Context, a *Alert) (*Alert, bool, error) {
	op := "create alert"
	now := s.now()
	if a.Status == "" {
		a.Status = AlertPending
	}
	res, err := s.q.ExecContext(ctx, `INSERT INTO alerts (`+alertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, '', '', '', $9, $9)
		ON CONFLICT (response_id, rule_id, target_key) DO NOTHING`,
		a.ID, a.ResponseID, a.RuleID, a.Target.Channel, a.Target.Address, a.TargetKey, a.Priority, string(a.Status), s.ts(now))
	if err != nil {
		return nil, false, wrapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, wrapErr(op, err)
	}
	got, err := scanAlert(s.q.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE response_id = $1 AND rule_id = $2 AND target_key = $3`, a.ResponseID, a.RuleID, a.TargetKey))
	if err != nil {
		return nil, false, wrapErr(op, err)
	}
	return got, n == 1, nil
}

// GetAlert returns the alert with id, or ErrNotFound.
func (s *Store) GetAlert(ctx context.Context, id string) (*Alert, error) {
	a, err := scanAlert(s.q.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	return a, wrapErr(fmt.Sprintf("get alert %q", id), err)
}

// AlertUpdate is what an alert send changes.
type AlertUpdate struct {
	Status            AlertStatus
	SentComment       *string
	ProviderMessageID string
	Reason            string
	// CountSend adds one to Sends.
	CountSend bool
}

// UpdateAlert applies u to the alert.
func (s *Store) UpdateAlert(ctx context.Context, id string, u AlertUpdate) error {
	var a args
	sets := []string{"status = " + a.add(string(u.Status)), "updated_at = " + a.add(s.ts(s.now())), "reason = " + a.add(u.Reason)}
	if u.SentComment != nil {
		sets = append(sets, "sent_comment = "+a.add(*u.SentComment))
	}
	if u.ProviderMessageID != "" {
		sets = append(sets, "provider_message_id = "+a.add(u.ProviderMessageID))
	}
	if u.CountSend {
		sets = append(sets, "sends = sends + 1")
	}
	q := `UPDATE alerts SET ` + strings.Join(sets, ", ") + ` WHERE id = ` + a.add(id)
	_, err := s.q.ExecContext(ctx, q, a...)
	return wrapErr("update alert", err)
}

// RaiseAlertPriority sets the alert's priority to priority when that is
// higher (P1 is higher than P2): a second rule that matches the same
// response and target raises the alert already there instead of a second
// one. It never lowers a priority, whatever the order of two raises.
func (s *Store) RaiseAlertPriority(ctx context.Context, id, priority string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE alerts SET priority = $1, updated_at = $2 WHERE id = $3 AND priority > $1`,
		priority, s.ts(s.now()), id)
	return wrapErr("raise alert priority", err)
}

// AlertsWaiting returns the alerts waiting for a rate-limited target,
// oldest first.
func (s *Store) AlertsWaiting(ctx context.Context, targetKey string) ([]*Alert, error) {
	return s.listAlerts(ctx, `WHERE target_key = $1 AND status = 'waiting' ORDER BY created_at, id LIMIT 1000`, targetKey)
}

// AlertsForResponse returns the alerts a response raised.
func (s *Store) AlertsForResponse(ctx context.Context, responseID string) ([]*Alert, error) {
	return s.listAlerts(ctx, `WHERE response_id = $1 ORDER BY created_at, id`, responseID)
}

// ListAlerts returns the newest alerts, at most limit.
func (s *Store) ListAlerts(ctx context.Context, limit int) ([]*Alert, error) {
	return s.listAlerts(ctx, `ORDER BY created_at DESC, id DESC LIMIT $1`, pageLimit(limit))
}

func (s *Store) listAlerts(ctx context.Context, where string, args ...any) ([]*Alert, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts `+where, args...)
	if err != nil {
		return nil, wrapErr("list alerts", err)
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, wrapErr("list alerts", err)
		}
		out = append(out, a)
	}
	return out, wrapErr("list alerts", rows.Err())
}

func scanAlert(row scanner) (*Alert, error) {
	var a Alert
	err := row.Scan(&a.ID, &a.ResponseID, &a.RuleID, &a.Target.Channel, &a.Target.Address, &a.TargetKey, &a.Priority,
		&a.Status, &a.Sends, &a.SentComment, &a.ProviderMessageID, &a.Reason, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &a, nil
}
