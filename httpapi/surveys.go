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

	"github.com/npsgate/npsgate/campaign"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/internal/zone"
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
	// Reminders to contacts who have not answered; omitted: one after 3
	// days; [] for none.
	Reminders *[]reminderSpec `json:"reminders,omitempty"`
	// Digest is a daily or weekly summary to the survey's owners.
	Digest *digestSpec `json:"digest,omitempty"`
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
	surveyOv, reminderOv := dispatcher.SplitOverrides(in.Templates)
	for suffix, ov := range map[string]templates.Overrides{"": surveyOv, dispatcher.ReminderSuffix: reminderOv} {
		if err := templates.Validate(ov); err != nil {
			var te *templates.Error
			if errors.As(err, &te) {
				return nil, badField(templateField("templates", te.Channel+suffix, te), "%v", te)
			}
			return nil, badField("templates", "%v", err)
		}
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
	if in.ReplyWindow != "" {
		d, err := parseDuration(in.ReplyWindow)
		if err != nil || d < time.Hour {
			return nil, badField("reply_window", "reply_window must be a duration of at least 1h, like 72h or 30d")
		}
		sv.ReplyWindow = d
	}
	// A reminder due after the reply link has expired would be dropped
	// when due (the survey is closed by then): refuse it now.
	window := sv.ReplyWindow
	if window == 0 {
		window = a.cfg.ReplyWindow
	}
	if in.Reminders == nil {
		// The default reminder is left out, not refused, when the survey's
		// window is too short for it: nobody asked for it.
		for _, r := range dispatcher.DefaultReminders {
			if r.After < window {
				sv.Reminders = append(sv.Reminders, r)
			}
		}
	} else {
		if len(*in.Reminders) > dispatcher.MaxReminders {
			return nil, badField("reminders", "at most %d reminders", dispatcher.MaxReminders)
		}
		for i, r := range *in.Reminders {
			d, err := parseDuration(r.After)
			if err != nil || d < time.Hour || d > 60*24*time.Hour {
				return nil, badField(fmt.Sprintf("reminders[%d].after", i), "after must be a duration from 1h to 60d, like \"3d\"")
			}
			if i > 0 && d <= sv.Reminders[i-1].After {
				return nil, badField(fmt.Sprintf("reminders[%d].after", i), "each reminder must come after the one before")
			}
			if d >= window {
				return nil, badField(fmt.Sprintf("reminders[%d].after", i),
					"the reminder would come %s after the survey, when its reply link (reply_window %s) has expired",
					humanDuration(d), humanDuration(window))
			}
			if err := templates.Validate(r.Templates); err != nil {
				var te *templates.Error
				if errors.As(err, &te) {
					return nil, badField(templateField(fmt.Sprintf("reminders[%d].templates", i), te.Channel, te), "%v", te)
				}
				return nil, badField(fmt.Sprintf("reminders[%d].templates", i), "%v", err)
			}
			sv.Reminders = append(sv.Reminders, store.Reminder{After: d, NextChannel: r.NextChannel, Templates: r.Templates})
		}
	}
	if in.Digest != nil && in.Digest.Frequency != "" {
		dg, err := a.digestFromJSON(*in.Digest)
		if err != nil {
			return nil, err
		}
		sv.Digest = dg
		next := dispatcher.NextDigest(dg, a.cfg.Now())
		sv.DigestNextAt = &next
	}
	if len(in.AlertTargets) > 0 {
		if sv.AlertTargets, err = a.targets("alert_targets", in.AlertTargets); err != nil {
			return nil, err
		}
	}
	return sv, nil
}

// templateField names the template an error is about, as far as it knows
// it: "templates.email.en.html", or "templates.fax" for a channel.
func templateField(prefix, channel string, te *templates.Error) string {
	field := prefix
	for _, p := range []string{channel, te.Locale, te.Part} {
		if p == "" {
			break
		}
		field += "." + p
	}
	return field
}

// humanDuration writes whole days as they are written in requests ("30d").
func humanDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

type reminderSpec struct {
	After       string `json:"after"`
	NextChannel bool   `json:"next_channel,omitempty"`
	// Templates are this reminder's own, like the survey's templates;
	// parts they lack come from the channel-wide "…_reminder" overrides,
	// then the survey's templates marked as a reminder.
	Templates map[string]map[string]map[string]string `json:"templates,omitempty"`
	// SMS reports, per locale, the encoding and segment count of the SMS
	// this reminder sends (read-only).
	SMS map[string]smsReport `json:"sms,omitempty"`
}

type digestSpec struct {
	Frequency string       `json:"frequency"`
	At        string       `json:"at"`
	TimeZone  string       `json:"time_zone,omitempty"`
	Targets   []targetJSON `json:"targets"`
	NextAt    *time.Time   `json:"next_at,omitempty"`
}

func (a *API) digestFromJSON(in digestSpec) (store.Digest, error) {
	if in.Frequency != "daily" && in.Frequency != "weekly" {
		return store.Digest{}, badField("digest.frequency", "frequency must be daily or weekly")
	}
	if in.At == "" {
		in.At = "09:00"
	}
	if (campaign.Window{Start: in.At, End: "24:00"}).Validate() != nil {
		return store.Digest{}, badField("digest.at", "at must be a time like 09:00")
	}
	if in.TimeZone != "" {
		if _, err := zone.Load(in.TimeZone); err != nil {
			return store.Digest{}, badField("digest.time_zone", "%q is not an IANA time zone", in.TimeZone)
		}
	}
	if len(in.Targets) == 0 {
		return store.Digest{}, badField("digest.targets", "at least one target (email or chat) is required")
	}
	targets, err := a.targets("digest.targets", in.Targets)
	if err != nil {
		return store.Digest{}, err
	}
	return store.Digest{Frequency: in.Frequency, At: in.At, TimeZone: in.TimeZone, Targets: targets}, nil
}

type smsReport struct {
	Encoding   string `json:"encoding"`
	Segments   int    `json:"segments"`
	Characters int    `json:"characters"`
}

// smsReports renders the survey's SMS, and each reminder's, in every
// locale they have, with a short link as long as a real one, and refuses
// one longer than the configured number of segments: carriers bill per
// segment and long texts arrive split. The reminders' reports are in the
// order of sv.Reminders.
func (a *API) smsReports(sv *store.Survey) (map[string]smsReport, []map[string]smsReport, error) {
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
	surveyOv, _ := dispatcher.SplitOverrides(sv.Templates)
	data := func(l string) templates.Data {
		d := &store.Delivery{Token: strings.Repeat("x", 22), Locale: l}
		data := dispatcher.MessageData(sv, d, a.cfg.Links)
		// SMS carries the short link, as the sender renders it; a
		// reminder's is a code of its own, as long.
		data.ReplyURL = a.cfg.Links.Short(strings.Repeat("x", store.ShortCodeLen))
		return data
	}
	report := func(text string) smsReport {
		enc, n := templates.Segments(text)
		return smsReport{Encoding: string(enc), Segments: n, Characters: utf8.RuneCountInString(text)}
	}
	tooLong := func(field, what string, r smsReport) error {
		return badField(field, "the %s takes %d %s segments; at most %d are allowed (sms.max_segments)",
			what, r.Segments, r.Encoding, a.cfg.SMSMaxSegments)
	}
	out := map[string]smsReport{}
	for l := range locales {
		m, err := a.cfg.Templates.Render("sms", l, surveyOv, data(l))
		if err != nil {
			return nil, nil, badField(fmt.Sprintf("templates.sms.%s.text", l), "%v", err)
		}
		out[l] = report(m.Text)
		if out[l].Segments > a.cfg.SMSMaxSegments {
			field := fmt.Sprintf("templates.sms.%s.text", l)
			if _, own := sv.Templates["sms"][l]; !own {
				field = fmt.Sprintf("texts.%s.question", l)
			}
			return nil, nil, tooLong(field, l+" SMS", out[l])
		}
	}
	var reminders []map[string]smsReport
	for i := range sv.Reminders {
		own, surveyOv := dispatcher.ReminderOverrides(sv, i+1)
		rl := map[string]bool{}
		for l := range locales {
			rl[l] = true
		}
		for _, ov := range own {
			for l := range ov["sms"] {
				rl[l] = true
			}
		}
		rep := map[string]smsReport{}
		for l := range rl {
			m, err := a.cfg.Templates.RenderReminder("sms", l, own, surveyOv, data(l))
			if err != nil {
				return nil, nil, badField(fmt.Sprintf("reminders[%d].templates.sms.%s.text", i, l), "%v", err)
			}
			rep[l] = report(m.Text)
			if rep[l].Segments <= a.cfg.SMSMaxSegments {
				continue
			}
			// Blame the template the admin can change.
			o := a.cfg.Templates.ReminderOrigin("sms", l, templates.PartText, own, surveyOv)
			field := fmt.Sprintf("texts.%s.question", l)
			switch ownFirst := len(sv.Reminders[i].Templates) > 0; {
			case o.Own == 0 && ownFirst:
				field = fmt.Sprintf("reminders[%d].templates.sms.%s.text", i, o.Locale)
			case o.Own >= 0:
				field = fmt.Sprintf("templates.sms%s.%s.text", dispatcher.ReminderSuffix, o.Locale)
			case o.Survey:
				field = fmt.Sprintf("templates.sms.%s.text", o.Locale)
			}
			return nil, nil, tooLong(field, fmt.Sprintf("%s SMS of reminder %d", l, i+1), rep[l])
		}
		reminders = append(reminders, rep)
	}
	return out, reminders, nil
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
	rs := make([]reminderSpec, 0, len(sv.Reminders))
	for _, r := range sv.Reminders {
		rs = append(rs, reminderSpec{After: r.After.String(), NextChannel: r.NextChannel, Templates: r.Templates})
	}
	out.Reminders = &rs
	if sv.Digest.Frequency != "" {
		out.Digest = &digestSpec{Frequency: sv.Digest.Frequency, At: sv.Digest.At, TimeZone: sv.Digest.TimeZone, NextAt: sv.DigestNextAt}
		for _, t := range sv.Digest.Targets {
			out.Digest.Targets = append(out.Digest.Targets, targetJSON{Channel: t.Channel, Address: t.Address})
		}
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
	report, reminderReports, err := a.smsReports(sv)
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
	for i, r := range reminderReports {
		if i < len(*out.Reminders) {
			(*out.Reminders)[i].SMS = r
		}
	}
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
	report, reminderReports, err := a.smsReports(sv)
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
	for i, r := range reminderReports {
		if i < len(*out.Reminders) {
			(*out.Reminders)[i].SMS = r
		}
	}
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
