package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

type scoreOption struct {
	Value    int
	Category survey.Category
	Checked  bool
}

type replyView struct {
	Lang, Title, Action                                  string
	Question, Low, High                                  string
	FollowUpPromoter, FollowUpPassive, FollowUpDetractor string
	Consent, FollowUp                                    string
	Scores                                               []scoreOption
	Selected                                             int
	Category                                             survey.Category
	Comment, Error                                       string
	MayContactYes, MayContactNo, AskComment              bool
	// Via is the reminder whose link was followed (0: the survey).
	Via int
	UI  ui
}

const maxCommentRunes = 5000

// replyContext is what every reply-page request needs: the delivery of the
// token, its survey, and whether it was answered already.
type replyContext struct {
	d        *store.Delivery
	sv       *store.Survey
	existing *store.Response
	text     survey.Text
	ui       ui
	lang     string
}

// loadReply resolves a token; it writes the friendly 404 itself and returns
// nil when there is nothing to show.
func (a *API) loadReply(c *gin.Context) *replyContext {
	token := c.Param("token")
	u, lang := uiFor(c.GetHeader("Accept-Language"))
	notFoundPage := func(body string) {
		a.pages.render(c, http.StatusNotFound, "message", messageView{Lang: lang, Title: u.NotFoundTitle, Heading: u.NotFoundTitle, Body: body})
	}
	// Tokens are 22 base64url characters; anything else cannot match and
	// is not worth a database query.
	if len(token) != 22 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		notFoundPage(u.NotFoundBody)
		return nil
	}
	// One query: the delivery, its survey's version and its answer so far.
	rp, err := a.cfg.Store.GetReplyByToken(c.Request.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		notFoundPage(u.NotFoundBody)
		return nil
	}
	if err != nil {
		a.log.Error("reply page: load delivery", "err", err)
		c.String(http.StatusServiceUnavailable, "temporarily unavailable, please try again")
		return nil
	}
	d := rp.Delivery
	u, lang = uiFor(d.Locale)
	if a.cfg.Now().After(d.ExpiresAt) {
		a.pages.render(c, http.StatusNotFound, "message", messageView{Lang: lang, Title: u.NotFoundTitle, Heading: u.NotFoundTitle, Body: u.ExpiredBody})
		return nil
	}
	if !rp.SurveyFound {
		a.log.Error("reply page: load survey", "delivery_id", d.ID, "err", "survey not found")
		notFoundPage(u.NotFoundBody)
		return nil
	}
	sv, err := a.surveys.get(c.Request.Context(), a.cfg.Store, d.SurveyKey, rp.SurveyUpdatedAt)
	if err != nil {
		a.log.Error("reply page: load survey", "delivery_id", d.ID, "err", err)
		notFoundPage(u.NotFoundBody)
		return nil
	}
	return &replyContext{d: d, sv: sv.sv, existing: rp.Response, text: sv.text(d.Locale), ui: u, lang: lang}
}

func (rc *replyContext) view(selected int, comment string, mayContact *bool) replyView {
	v := replyView{
		Lang: rc.lang, Title: rc.text.Question, Action: "/r/" + rc.d.Token, Question: rc.text.Question,
		Low: rc.ui.Low[rc.sv.Kind], High: rc.ui.High[rc.sv.Kind],
		FollowUpPromoter: rc.text.FollowUpPromoter, FollowUpPassive: rc.text.FollowUpPassive,
		FollowUpDetractor: rc.text.FollowUpDetractor, Consent: rc.text.ContactConsent,
		Selected: selected, Comment: comment, UI: rc.ui,
	}
	for _, n := range rc.sv.Kind.Scores() {
		v.Scores = append(v.Scores, scoreOption{Value: n, Category: rc.sv.Kind.CategoryOf(n), Checked: n == selected})
	}
	if rc.sv.Kind.CheckScore(selected) == nil {
		v.Category = rc.sv.Kind.CategoryOf(selected)
		v.FollowUp = rc.text.FollowUp(v.Category)
	}
	if mayContact != nil {
		v.MayContactYes, v.MayContactNo = *mayContact, !*mayContact
	}
	return v
}

// locked reports whether the answer can no longer be changed.
func (a *API) locked(rc *replyContext) bool {
	return rc.existing != nil && a.cfg.Now().After(rc.existing.CreatedAt.Add(a.cfg.EditWindow))
}

// replyPage shows the question. It never records an answer: mail scanners
// and link previews open every link in a message. It does note that the
// page was opened, for the funnel (scanners inflate that count).
func (a *API) replyPage(c *gin.Context) {
	// Token guessing costs a look-up each: bounded per IP like answers.
	if ok, retry := a.allow(c.Request.Context(), "reply-get-ip:"+c.ClientIP(), 4*a.cfg.ReplyPagePerMinute, time.Minute); !ok {
		c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		u, lang := uiFor(c.GetHeader("Accept-Language"))
		a.pages.render(c, http.StatusTooManyRequests, "message", messageView{Lang: lang, Title: u.NotFoundTitle,
			Heading: "429", Body: "Too many requests; please try again in a minute."})
		return
	}
	rc := a.loadReply(c)
	if rc == nil {
		return
	}
	a.recordOpened(c.Request.Context(), rc.d)
	if a.locked(rc) {
		a.pages.render(c, http.StatusOK, "message", messageView{Lang: rc.lang, Title: rc.ui.LockedTitle, Heading: rc.ui.LockedTitle, Body: rc.ui.LockedBody})
		return
	}
	selected, comment := -1, ""
	var may *bool
	if rc.existing != nil {
		selected, comment, may = rc.existing.Score, rc.existing.Comment, rc.existing.MayContact
	}
	if s := c.Query("score"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && rc.sv.Kind.CheckScore(n) == nil {
			selected = n
		}
	}
	v := rc.view(selected, comment, may)
	if m, err := strconv.Atoi(c.Query("m")); err == nil && m > 0 && m <= 3 {
		v.Via = m
	}
	a.pages.render(c, http.StatusOK, "reply", v)
}

// replyPost records an answer, or updates it within the edit window. Fields
// not in the form keep their saved value, so the score-only form and the
// comment form can be sent one after the other.
func (a *API) replyPost(c *gin.Context) {
	if ok, retry := a.allow(c.Request.Context(), "reply-ip:"+c.ClientIP(), a.cfg.ReplyPagePerMinute, time.Minute); !ok {
		c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		u, lang := uiFor(c.GetHeader("Accept-Language"))
		a.pages.render(c, http.StatusTooManyRequests, "message", messageView{Lang: lang, Title: u.NotFoundTitle,
			Heading: "429", Body: "Too many answers from this address; please try again in a minute."})
		return
	}
	rc := a.loadReply(c)
	if rc == nil {
		return
	}
	if a.locked(rc) {
		a.pages.render(c, http.StatusConflict, "message", messageView{Lang: rc.lang, Title: rc.ui.LockedTitle, Heading: rc.ui.LockedTitle, Body: rc.ui.LockedBody})
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.String(http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		c.String(http.StatusBadRequest, "malformed form")
		return
	}
	form := c.Request.PostForm
	score, err := strconv.Atoi(strings.TrimSpace(form.Get("score")))
	if err != nil || rc.sv.Kind.CheckScore(score) != nil {
		v := rc.view(-1, form.Get("comment"), nil)
		v.Error = rc.ui.PickScore
		a.pages.render(c, http.StatusBadRequest, "reply", v)
		return
	}
	r := &store.Response{
		DeliveryID: rc.d.ID, SurveyKey: rc.d.SurveyKey, ContactID: rc.d.ContactID, Channel: rc.d.Channel,
		Locale: rc.d.Locale, Score: score, Category: rc.sv.Kind.CategoryOf(score),
	}
	if rc.existing != nil {
		r.Comment, r.MayContact = rc.existing.Comment, rc.existing.MayContact
	}
	if m, err := strconv.Atoi(form.Get("m")); err == nil && m > 0 && m <= 3 {
		r.Via = m
	}
	if _, ok := form["comment"]; ok {
		comment := strings.TrimSpace(cleanText(form.Get("comment")))
		if utf8.RuneCountInString(comment) > maxCommentRunes {
			v := rc.view(score, comment, nil)
			v.Error = rc.ui.TooLong
			a.pages.render(c, http.StatusBadRequest, "reply", v)
			return
		}
		r.Comment = comment
	}
	switch form.Get("may_contact") {
	case "yes":
		yes := true
		r.MayContact = &yes
	case "no":
		no := false
		r.MayContact = &no
	}
	// The answer and the delivery's move to responded are one write, so
	// once the page says thank you no reminder of this survey can go out
	// (the sender's reminder gate drops reminders of answered surveys).
	// Cancelling the reminders and the contact's rest after an answer
	// follow in the response:notify task.
	// rc.text is what the page asked: a comment sent back unchanged into
	// a band that asks another question is dropped, and consent is kept
	// for a detractor alone (store.AnswerDelivery); r then holds what was
	// kept, so the thanks page asks the new band's question.
	created, _, err := a.cfg.Store.AnswerDelivery(c.Request.Context(), r, rc.sv.Kind, answerable, rc.text)
	if err != nil {
		a.log.Error("reply page: save response", "delivery_id", rc.d.ID, "err", err)
		c.String(http.StatusServiceUnavailable, "your answer could not be saved; please try again")
		return
	}
	a.notify(c.Request.Context(), r.ID, created)
	a.log.Info("response recorded", "delivery_id", rc.d.ID, "category", r.Category)
	v := rc.view(score, r.Comment, r.MayContact)
	v.AskComment = r.Comment == "" && v.FollowUp != ""
	a.pages.render(c, http.StatusOK, "thanks", v)
}

// answerable are the statuses from which an answer moves a delivery to
// responded. queued and sending are in because a fast reader can answer
// before the worker has recorded the send.
var answerable = []store.DeliveryStatus{
	store.StatusQueued, store.StatusSending, store.StatusSent, store.StatusDelivered, store.StatusDeferred,
}
