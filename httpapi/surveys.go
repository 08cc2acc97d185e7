package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
	"github.com/npsgate/npsgate/templates"
)

type surveyJSON struct {
	Key          string                                  `json:"key"`
	Kind         string                                  `json:"kind"`
	ProductName  string                                  `json:"product_name"`
	Texts        map[string]survey.Text                  `json:"texts,omitempty"`
	Channels     []string                                `json:"channels"`
	Templates    map[string]map[string]map[string]string `json:"templates,omitempty"`
	ReplyWindow  string                                  `json:"reply_window,omitempty"`
	AlertTargets []targetJSON                            `json:"alert_targets,omitempty"`
	// Fatigue overrides the contact\'s rest after this survey, in days.
	Fatigue *store.Fatigue `json:"fatigue,omitempty"`
	// SMS reports, per locale, the encoding and segment count of the SMS
	// this survey sends (read-only).
	SMS       map[string]smsReport `json:"sms,omitempty"`
	CreatedAt *time.Time           `json:"created_at,omitempty"`
	UpdatedAt *time.Time           `json:"updated_at,omitempty"`
}

var surveyKeyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func (a *API) surveyFromJSON(in surveyJSON) (*store.Survey, error) {
	if !surveyKeyRE.MatchString(in.Key) {
		return nil, badField("key", "key must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit")
	}
	if in.Kind == "" {
		in.Kind = string(survey.NPS)
	}
	kind, err := survey.ParseKind(in.Kind)
	if err != nil {
		return nil, badField("kind", "%v", err)
	}
	if in.ProductName == "" {
		return nil, badField("product_name", "product_name is required: it is the X in \"how likely are you to recommend X\"")
	}
	for loc := range in.Texts {
		if _, err := language.Parse(loc); err != nil {
			return nil, badField("texts."+loc, "%q is not a BCP 47 locale (like en, zh-CN)", loc)
		}
	}
	if len(in.Channels) == 0 {
		in.Channels = []string{"email"}
	}
	seen := map[string]bool{}
	for i, ch := range in.Channels {
		if _, err := a.cfg.Channels.Get(ch); err != nil {
			return nil, badField(fmt.Sprintf("channels[%d]", i), "unknown channel %q (have %v)", ch, a.cfg.Channels.Names())
		}
		if seen[ch] {
			return nil, badField(fmt.Sprintf("channels[%d]", i), "channel %q is listed twice", ch)
		}
		seen[ch] = true
	}
	if err := templates.Validate(templates.Overrides(in.Templates)); err != nil {
		var te *templates.Error
		if errors.As(err, &te) {
			return nil, badField(fmt.Sprintf("templates.%s.%s.%s", te.Channel, te.Locale, te.Part), "%v", te)
		}
		return nil, badField("templates", "%v", err)
	}
	sv := &store.Survey{
		Key: in.Key, Kind: kind, ProductName: in.ProductName, Texts: in.Texts,
		Channels: in.Channels, Templates: in.Templates,
	}
	if in.Fatigue != nil {
		for name, v := range map[string]*int{"days": in.Fatigue.Days, "unanswered_days": in.Fatigue.UnansweredDays} {
			if v != nil && (*v < 0 || *v > 3650) {
				return nil, badField("fatigue."+name, "fatigue.%s must be from 0 to 3650", name)
			}
		}
		sv.Fatigue = *in.Fatigue
	}
	if len(in.AlertTargets) > 0 {
		if sv.AlertTargets, err = a.targets("alert_targets", in.AlertTargets); err != nil {
			return nil, err
		}
	}
	if in.ReplyWindow != "" {
		d, err := parseDuration(in.ReplyWindow)
		if err != nil || d < time.Hour {
			return nil, badField("reply_window", "reply_window must be a duration of at least 1h, like 72h or 30d")
		}
		sv.ReplyWindow = d
	}
	return sv, nil
}

type smsReport struct {
	Encoding   string `json:"encoding"`
	Segments   int    `json:"segments"`
	Characters int    `json:"characters"`
}

// smsReports renders the survey's SMS in every locale it has, with a reply
// link as long as a real one, and refuses one longer than the configured
// number of segments: carriers bill per segment and long texts arrive
// split.
func (a *API) smsReports(sv *store.Survey) (map[string]smsReport, error) {
	locales := map[string]bool{}
	for _, l := range a.cfg.Templates.Locales("sms") {
		locales[l] = true
	}
	for l := range sv.Texts {
		locales[l] = true
	}
	for l := range sv.Templates["sms"] {
		locales[l] = true
	}
	out := map[string]smsReport{}
	for l := range locales {
		d := &store.Delivery{Token: strings.Repeat("x", 22), Locale: l}
		m, err := a.cfg.Templates.Render("sms", l, templates.Overrides(sv.Templates), dispatcher.MessageData(sv, d, a.cfg.Links))
		if err != nil {
			return nil, badField(fmt.Sprintf("templates.sms.%s.text", l), "%v", err)
		}
		enc, n := templates.Segments(m.Text)
		out[l] = smsReport{Encoding: string(enc), Segments: n, Characters: utf8.RuneCountInString(m.Text)}
		if n > a.cfg.SMSMaxSegments {
			field := fmt.Sprintf("templates.sms.%s.text", l)
			if _, own := sv.Templates["sms"][l]; !own {
				field = fmt.Sprintf("texts.%s.question", l)
			}
			return nil, badField(field, "the %s SMS takes %d %s segments; at most %d are allowed (sms.max_segments)", l, n, enc, a.cfg.SMSMaxSegments)
		}
	}
	return out, nil
}

func surveyToJSON(sv *store.Survey) surveyJSON {
	out := surveyJSON{
		Key: sv.Key, Kind: string(sv.Kind), ProductName: sv.ProductName, Texts: sv.Texts,
		Channels: sv.Channels, Templates: sv.Templates, CreatedAt: &sv.CreatedAt, UpdatedAt: &sv.UpdatedAt,
	}
	if sv.Fatigue.Days != nil || sv.Fatigue.UnansweredDays != nil {
		f := sv.Fatigue
		out.Fatigue = &f
	}
	for _, t := range sv.AlertTargets {
		out.AlertTargets = append(out.AlertTargets, targetJSON{Channel: t.Channel, Address: t.Address})
	}
	if sv.ReplyWindow > 0 {
		out.ReplyWindow = sv.ReplyWindow.String()
	}
	return out
}

func (a *API) createSurvey(c *gin.Context) {
	var in surveyJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	sv, err := a.surveyFromJSON(in)
	if err != nil {
		a.fail(c, err)
		return
	}
	report, err := a.smsReports(sv)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.CreateSurvey(c.Request.Context(), sv); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = &apiError{Status: http.StatusConflict, Code: "conflict", Field: "key",
				Message: fmt.Sprintf("survey %q exists; PUT /v1/surveys/%s changes it", sv.Key, sv.Key)}
		}
		a.fail(c, err)
		return
	}
	out := surveyToJSON(sv)
	out.SMS = report
	c.JSON(http.StatusCreated, out)
}

func (a *API) updateSurvey(c *gin.Context) {
	var in surveyJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	if in.Key == "" {
		in.Key = c.Param("key")
	}
	if in.Key != c.Param("key") {
		a.fail(c, badField("key", "key %q in the body does not match %q in the path", in.Key, c.Param("key")))
		return
	}
	sv, err := a.surveyFromJSON(in)
	if err != nil {
		a.fail(c, err)
		return
	}
	report, err := a.smsReports(sv)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.UpdateSurvey(c.Request.Context(), sv); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("survey")
		}
		a.fail(c, err)
		return
	}
	sv, err = a.cfg.Store.GetSurvey(c.Request.Context(), sv.Key)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := surveyToJSON(sv)
	out.SMS = report
	c.JSON(http.StatusOK, out)
}

func (a *API) getSurvey(c *gin.Context) {
	sv, err := a.cfg.Store.GetSurvey(c.Request.Context(), c.Param("key"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("survey")
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, surveyToJSON(sv))
}

func (a *API) listSurveys(c *gin.Context) {
	list, err := a.cfg.Store.ListSurveys(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]surveyJSON, 0, len(list))
	for _, sv := range list {
		out = append(out, surveyToJSON(sv))
	}
	c.JSON(http.StatusOK, gin.H{"surveys": out})
}
