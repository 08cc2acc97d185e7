package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/npsgate/npsgate/internal/phone"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

type targetJSON struct {
	Channel string `json:"channel"`
	Address string `json:"address"`
}

type alertRuleJSON struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name"`
	Survey     string            `json:"survey,omitempty"`
	Categories []string          `json:"categories,omitempty"`
	ScoreMin   *int              `json:"score_min,omitempty"`
	ScoreMax   *int              `json:"score_max,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Comment    string            `json:"comment,omitempty"`
	Priority   string            `json:"priority"`
	Targets    []targetJSON      `json:"targets"`
	Enabled    *bool             `json:"enabled,omitempty"`
	CreatedAt  *time.Time        `json:"created_at,omitempty"`
	UpdatedAt  *time.Time        `json:"updated_at,omitempty"`
}

// targets validates alert targets: a registered channel and an address
// that channel can reach.
func (a *API) targets(field string, in []targetJSON) ([]store.Target, error) {
	out := make([]store.Target, 0, len(in))
	for i, t := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, err := a.cfg.Channels.Get(t.Channel); err != nil {
			return nil, badField(f+".channel", "unknown channel %q (have %v)", t.Channel, a.cfg.Channels.Names())
		}
		switch t.Channel {
		case "email":
			if !validEmail(t.Address) {
				return nil, badField(f+".address", "%q is not an email address", t.Address)
			}
		case "sms", "whatsapp":
			p, err := phone.Normalize(t.Address, a.cfg.PhoneRegion)
			if err != nil {
				return nil, badField(f+".address", "%v", err)
			}
			t.Address = p
		default:
			u, err := url.Parse(t.Address)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, badField(f+".address", "a %s target is its webhook URL (https://…)", t.Channel)
			}
		}
		out = append(out, store.Target{Channel: t.Channel, Address: t.Address})
	}
	return out, nil
}

func (a *API) ruleFromJSON(in alertRuleJSON) (*store.AlertRule, error) {
	r := &store.AlertRule{ID: in.ID, Name: in.Name, Survey: in.Survey, ScoreMin: -1, ScoreMax: -1,
		Attributes: in.Attributes, Comment: in.Comment, Priority: in.Priority, Enabled: true}
	if r.Priority == "" {
		r.Priority = "P2"
	}
	if r.Priority != "P1" && r.Priority != "P2" && r.Priority != "P3" {
		return nil, badField("priority", "priority must be P1, P2 or P3")
	}
	for i, c := range in.Categories {
		cat, err := survey.ParseCategory(c)
		if err != nil {
			return nil, badField(fmt.Sprintf("categories[%d]", i), "%v", err)
		}
		r.Categories = append(r.Categories, cat)
	}
	if in.ScoreMin != nil {
		if *in.ScoreMin < 0 || *in.ScoreMin > 10 {
			return nil, badField("score_min", "score_min must be from 0 to 10")
		}
		r.ScoreMin = *in.ScoreMin
	}
	if in.ScoreMax != nil {
		if *in.ScoreMax < 0 || *in.ScoreMax > 10 || *in.ScoreMax < r.ScoreMin {
			return nil, badField("score_max", "score_max must be from score_min to 10")
		}
		r.ScoreMax = *in.ScoreMax
	}
	switch in.Comment {
	case "", "present", "absent":
	default:
		return nil, badField("comment", `comment must be "present", "absent" or empty`)
	}
	if len(in.Targets) == 0 {
		return nil, badField("targets", "at least one target is required")
	}
	var err error
	if r.Targets, err = a.targets("targets", in.Targets); err != nil {
		return nil, err
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	return r, nil
}

func ruleToJSON(r *store.AlertRule) alertRuleJSON {
	out := alertRuleJSON{ID: r.ID, Name: r.Name, Survey: r.Survey, Attributes: r.Attributes, Comment: r.Comment,
		Priority: r.Priority, Enabled: &r.Enabled, CreatedAt: &r.CreatedAt, UpdatedAt: &r.UpdatedAt, Targets: []targetJSON{}}
	for _, c := range r.Categories {
		out.Categories = append(out.Categories, string(c))
	}
	if r.ScoreMin >= 0 {
		out.ScoreMin = &r.ScoreMin
	}
	if r.ScoreMax >= 0 {
		out.ScoreMax = &r.ScoreMax
	}
	for _, t := range r.Targets {
		out.Targets = append(out.Targets, targetJSON{Channel: t.Channel, Address: t.Address})
	}
	return out
}

func (a *API) createAlertRule(c *gin.Context) {
	var in alertRuleJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	in.ID = uuid.Must(uuid.NewV7()).String()
	r, err := a.ruleFromJSON(in)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.SaveAlertRule(c.Request.Context(), r); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, ruleToJSON(r))
}

func (a *API) updateAlertRule(c *gin.Context) {
	var in alertRuleJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	if _, err := a.cfg.Store.GetAlertRule(c.Request.Context(), c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("alert rule")
		}
		a.fail(c, err)
		return
	}
	in.ID = c.Param("id")
	r, err := a.ruleFromJSON(in)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.SaveAlertRule(c.Request.Context(), r); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ruleToJSON(r))
}

func (a *API) getAlertRule(c *gin.Context) {
	r, err := a.cfg.Store.GetAlertRule(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("alert rule")
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ruleToJSON(r))
}

func (a *API) listAlertRules(c *gin.Context) {
	list, err := a.cfg.Store.ListAlertRules(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]alertRuleJSON, 0, len(list))
	for _, r := range list {
		out = append(out, ruleToJSON(r))
	}
	c.JSON(http.StatusOK, gin.H{"alert_rules": out})
}

func (a *API) deleteAlertRule(c *gin.Context) {
	if err := a.cfg.Store.DeleteAlertRule(c.Request.Context(), c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("alert rule")
		}
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type alertJSON struct {
	ID         string     `json:"id"`
	ResponseID string     `json:"response_id"`
	RuleID     string     `json:"rule_id"`
	Channel    string     `json:"channel"`
	Priority   string     `json:"priority"`
	Status     string     `json:"status"`
	Sends      int        `json:"sends"`
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  *time.Time `json:"updated_at"`
}

// listAlerts shows the newest alerts and where they are; target addresses
// stay out (chat webhook URLs are secrets).
func (a *API) listAlerts(c *gin.Context) {
	limit, err := intParam(c, "limit", 100, 1, 1000)
	if err != nil {
		a.fail(c, err)
		return
	}
	var list []*store.Alert
	if rid := c.Query("response"); rid != "" {
		list, err = a.cfg.Store.AlertsForResponse(c.Request.Context(), rid)
	} else {
		list, err = a.cfg.Store.ListAlerts(c.Request.Context(), limit)
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]alertJSON, 0, len(list))
	for _, x := range list {
		out = append(out, alertJSON{ID: x.ID, ResponseID: x.ResponseID, RuleID: x.RuleID, Channel: x.Target.Channel,
			Priority: x.Priority, Status: string(x.Status), Sends: x.Sends, Reason: x.Reason, CreatedAt: x.CreatedAt, UpdatedAt: &x.UpdatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"alerts": out})
}
