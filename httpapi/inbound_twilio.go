package httpapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	twclient "github.com/twilio/twilio-go/client"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// smsWords are the gateway's own SMS answers around the survey's texts.
type smsWords struct {
	Thanks, ThanksComment, Clarify, Unmatched, OptedOut, OptedIn string
	// sep joins two sentences: a space in English, nothing in Chinese.
	sep string
}

var smsText = map[string]smsWords{
	"en": {
		Thanks:        "Thank you!",
		ThanksComment: "Thank you for your feedback!",
		Clarify:       "Please reply with a number from %d to %d.",
		Unmatched:     "Thank you for your message. There is no open survey for this number.",
		OptedOut:      "You are unsubscribed and will get no more surveys from us. Reply START to subscribe again.",
		OptedIn:       "You are subscribed again. Reply STOP to unsubscribe.",
		sep:           " ",
	},
	"zh-CN": {
		Thanks:        "谢谢！",
		ThanksComment: "感谢您的反馈！",
		Clarify:       "请回复 %d 到 %d 之间的一个数字。",
		Unmatched:     "感谢您的消息。此号码目前没有待回复的问卷。",
		OptedOut:      "您已退订，将不会再收到我们的问卷。回复 START 可重新订阅。",
		OptedIn:       "您已重新订阅。回复 TD 或 STOP 可退订。",
	},
	"zh-TW": {
		Thanks:        "謝謝！",
		ThanksComment: "感謝您的回饋！",
		Clarify:       "請回覆 %d 到 %d 之間的一個數字。",
		Unmatched:     "感謝您的訊息。此號碼目前沒有待回覆的問卷。",
		OptedOut:      "您已取消訂閱，將不會再收到我們的問卷。回覆 START 可重新訂閱。",
		OptedIn:       "您已重新訂閱。回覆 STOP 可取消訂閱。",
	},
}

// twilioParams checks X-Twilio-Signature against the public URL of the
// request, as Twilio computed it, and returns the form. A request that is
// not signed with our auth token is refused before anything is read into
// the store.
func (a *API) twilioParams(c *gin.Context) (map[string]string, bool) {
	if a.cfg.TwilioAuthToken == "" {
		a.fail(c, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "Twilio is not configured"})
		return nil, false
	}
	if err := c.Request.ParseForm(); err != nil {
		a.fail(c, &apiError{Status: http.StatusBadRequest, Code: "malformed_form", Message: "malformed form body"})
		return nil, false
	}
	params := make(map[string]string, len(c.Request.PostForm))
	for k, v := range c.Request.PostForm {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	url := a.cfg.Links.Base + c.Request.URL.RequestURI()
	sig := c.GetHeader("X-Twilio-Signature")
	validator := twclient.NewRequestValidator(a.cfg.TwilioAuthToken)
	if sig == "" || !validator.Validate(url, params, sig) {
		a.log.Warn("twilio webhook with a bad signature", "path", c.FullPath(), "ip", c.ClientIP())
		a.fail(c, &apiError{Status: http.StatusForbidden, Code: "bad_signature", Message: "X-Twilio-Signature does not match"})
		return nil, false
	}
	return params, true
}

// twiml answers Twilio with zero or one message.
func twiml(c *gin.Context, message string) {
	var b strings.Builder
	b.WriteString(xml.Header + "<Response>")
	if message != "" {
		b.WriteString("<Message>")
		_ = xml.EscapeText(&b, []byte(message))
		b.WriteString("</Message>")
	}
	b.WriteString("</Response>")
	c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(b.String()))
}

// inboundSMS turns a text reply into a score, a comment, an opt-out or a
// clarifying question. The message is claimed by its MessageSid in the same
// transaction as its effects, so Twilio's retry of the webhook changes
// nothing and a failure leaves the retry free to try again.
func (a *API) inboundSMS(c *gin.Context) {
	params, ok := a.twilioParams(c)
	if !ok {
		return
	}
	sid := params["MessageSid"]
	if sid == "" {
		sid = params["SmsSid"]
	}
	from, channel := params["From"], "sms"
	if rest, ok := strings.CutPrefix(from, "whatsapp:"); ok {
		from, channel = rest, "whatsapp"
	}
	if sid == "" || from == "" {
		a.fail(c, badField("MessageSid", "MessageSid and From are required"))
		return
	}
	// An opt-out is honoured whatever the rate: STOP is never dropped as
	// part of a flood, and it is one message a contact sends once.
	optOut := survey.IsOptOut(params["Body"])
	if ok, _ := a.allow(c.Request.Context(), "sms-from:"+from, a.cfg.InboundSMSPerHour, time.Hour); !ok && !optOut {
		// A flood from one number is dropped quietly: answering would
		// feed it, and Twilio must not retry.
		a.log.Warn("inbound sms over the limit", "channel", channel)
		a.metrics.inboundOutcome(channel, "rate_limited")
		twiml(c, "")
		return
	}
	msg := &store.InboundMessage{Provider: "twilio", ProviderMessageID: cleanText(sid), Channel: channel, From: cleanText(from),
		To: cleanText(strings.TrimPrefix(params["To"], "whatsapp:")), Body: cleanText(params["Body"])}
	ctx := c.Request.Context()
	out, err := a.handleReply(ctx, msg)
	if errors.Is(err, store.ErrInboundSeen) {
		a.metrics.inboundOutcome(channel, "duplicate")
		twiml(c, "") // a retry of a message already handled: answer nothing
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	a.metrics.inboundOutcome(channel, out.outcome)
	if out.outcome == "score" {
		a.log.Info("sms response recorded", "delivery_id", out.deliveryID)
	}
	// Events leave only once the transaction is committed. The task
	// also cancels the reminders of a new answer and rests the contact.
	if out.responseID != "" {
		a.notify(ctx, out.responseID, out.created)
	}
	for _, id := range out.optedOut {
		a.optedOut(ctx, id, channel, "stop")
	}
	twiml(c, out.answer)
}

// replyOutcome is what an inbound message did.
type replyOutcome struct {
	answer, deliveryID, outcome string
	// responseID is the response it created or changed, created whether
	// it was new; optedOut lists the contacts it opted out.
	responseID string
	created    bool
	optedOut   []string
}

// handleReply does what an inbound message asks and records the message
// (RecordInbound) with what it did, in the write that has its effects: one
// statement when there is one (an answer, or nothing but the record), a
// transaction when there are several (STOP, START). A message recorded
// before, by a retry or a concurrent duplicate whose insert waits for the
// first to commit, writes nothing and gives store.ErrInboundSeen. The reads
// before the write are those the transaction's used to be (READ COMMITTED
// gave them no more isolation).
func (a *API) handleReply(ctx context.Context, msg *store.InboundMessage) (replyOutcome, error) {
	st := a.cfg.Store
	now := a.cfg.Now()
	// record records the message alone, for outcomes with no other write.
	record := func(st *store.Store, out replyOutcome) (replyOutcome, error) {
		msg.DeliveryID, msg.Outcome = out.deliveryID, out.outcome
		created, err := st.RecordInbound(ctx, msg)
		if err == nil && !created {
			err = store.ErrInboundSeen
		}
		return out, err
	}
	// The contacts of the number are read only when needed: for the
	// keywords and, for the words, when no survey is open. An answer to a
	// survey speaks the survey's language.
	contacts := func(st *store.Store) ([]*store.Contact, smsWords, error) {
		contacts, err := st.ContactsByPhone(ctx, msg.From)
		if err != nil {
			return nil, smsWords{}, err
		}
		locale := ""
		if len(contacts) > 0 {
			locale = contacts[0].Locale
		}
		return contacts, smsText[survey.MatchLocale(locale)], nil
	}

	// Keywords come first and need no open survey: STOP must work even
	// months after the last message.
	switch survey.ParseReply(survey.NPS, msg.Body).Kind {
	case survey.ReplyOptOut:
		var out replyOutcome
		err := st.InTx(ctx, func(tx *store.Store) error {
			contacts, words, err := contacts(tx)
			if err != nil {
				return err
			}
			// A number already suppressed on this channel whose contacts
			// are all opted out heard the confirmation before: a repeated
			// STOP gets no answer, so that STOP never starts a
			// conversation of confirmations.
			_, already, err := tx.Suppressed(ctx, msg.Channel, msg.From)
			if err != nil {
				return err
			}
			out = replyOutcome{outcome: "opt_out"}
			for _, ct := range contacts {
				if ct.OptedOutAt == nil {
					already = false
					out.optedOut = append(out.optedOut, ct.ExternalID)
				}
				if err := tx.OptOutContact(ctx, ct.ExternalID, "stop", now); err != nil {
					return err
				}
			}
			for _, ch := range []string{"sms", "whatsapp"} {
				if err := tx.AddSuppression(ctx, store.Suppression{Channel: ch, Address: msg.From, Reason: "stop", CreatedAt: now}); err != nil {
					return err
				}
			}
			if !already {
				out.answer = words.OptedOut
			}
			_, err = record(tx, out)
			return err
		})
		if err == nil {
			a.log.Info("sms opt-out", "contacts", len(out.optedOut), "repeated", out.answer == "")
		}
		return out, err
	case survey.ReplyOptIn:
		var out replyOutcome
		err := st.InTx(ctx, func(tx *store.Store) error {
			contacts, words, err := contacts(tx)
			if err != nil {
				return err
			}
			for _, ct := range contacts {
				if err := tx.OptInContact(ctx, ct.ExternalID); err != nil {
					return err
				}
			}
			for _, ch := range []string{"sms", "whatsapp"} {
				if err := tx.RemoveSuppression(ctx, ch, msg.From); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			out = replyOutcome{answer: words.OptedIn, outcome: "opt_in"}
			_, err = record(tx, out)
			return err
		})
		return out, err
	case survey.ReplyHelp:
		return record(st, replyOutcome{answer: a.cfg.SMSHelpText, outcome: "help"})
	}

	// An opted-out number gets no message and its words are not answers:
	// they are kept for audit only. The keywords above still work, START
	// included. The test is the send pipeline's: the number suppressed on
	// the channel, or (below) the delivery's contact opted out.
	optedOut := replyOutcome{outcome: "opted_out"}
	if _, ok, err := st.Suppressed(ctx, msg.Channel, msg.From); err != nil {
		return replyOutcome{}, err
	} else if ok {
		return record(st, optedOut)
	}

	cand, sv, err := a.openDelivery(ctx, st, msg.From, now)
	if err != nil {
		return replyOutcome{}, err
	}
	unmatched := func() (replyOutcome, error) {
		_, words, err := contacts(st)
		if err != nil {
			return replyOutcome{}, err
		}
		return record(st, replyOutcome{answer: words.Unmatched, outcome: "unmatched"})
	}
	if cand == nil {
		return unmatched()
	}
	d, via := cand.Delivery, 0
	if d.ReminderOf != "" {
		// A reply to a reminder answers its survey, once.
		parent, err := st.GetDelivery(ctx, d.ReminderOf)
		if err != nil {
			return replyOutcome{}, err
		}
		d, via = parent, d.ReminderN
	}
	// The contact may have opted out without this number being suppressed
	// on this channel: an email unsubscribe link suppresses the contact's
	// phone on sms, not on whatsapp.
	switch ct, err := st.GetContact(ctx, d.ContactID); {
	case errors.Is(err, store.ErrNotFound):
		return unmatched() // erased since the query: its deliveries are closed
	case err != nil:
		return replyOutcome{}, err
	case ct.OptedOutAt != nil:
		optedOut.deliveryID = d.ID
		return record(st, optedOut)
	}
	words := smsText[survey.MatchLocale(d.Locale)]
	// The answer so far to the survey (the parent's, for a reminder) came
	// with the candidate.
	existing := cand.Response
	reply := survey.ParseReply(sv.sv.Kind, msg.Body)
	text := sv.text(d.Locale)
	// Within the edit window a new score changes the answer, as on the
	// reply page; after it the answer is locked and every message is a
	// comment, so nothing the customer wrote is lost.
	editable := existing == nil || !now.After(existing.CreatedAt.Add(a.cfg.EditWindow))

	// After a score, the next message is the comment, unless it is a new
	// score ("8", "6 - actually support was slow"), which updates the
	// answer.
	if existing != nil && (reply.Kind != survey.ReplyScore || !editable) {
		existing.Comment = joinComment(existing.Comment, strings.TrimSpace(msg.Body))
		out := replyOutcome{answer: words.ThanksComment, deliveryID: d.ID, outcome: "comment", responseID: existing.ID}
		msg.DeliveryID, msg.Outcome = out.deliveryID, out.outcome
		if _, _, err := st.AnswerInbound(ctx, msg, d, existing, sv.sv.Kind, answerable, text); err != nil {
			return replyOutcome{}, err
		}
		out.responseID = existing.ID
		return out, nil
	}
	if reply.Kind != survey.ReplyScore {
		lo, hi := sv.sv.Kind.Range()
		return record(st, replyOutcome{answer: fmt.Sprintf(words.Clarify, lo, hi), deliveryID: d.ID, outcome: "clarify"})
	}
	r := &store.Response{DeliveryID: d.ID, Channel: d.Channel, Locale: d.Locale, Score: reply.Score, Via: via,
		Category: sv.sv.Kind.CategoryOf(reply.Score), Comment: strings.TrimSpace(reply.Rest)}
	if existing != nil {
		// A new score with words ("6 - actually support was slow") says
		// why it changed: those words are the comment now. A bare score
		// keeps the comment it had.
		if r.Comment == "" {
			r.Comment = existing.Comment
		}
		r.MayContact = existing.MayContact
	}
	// The message's record, the answer and the delivery's move to
	// responded are one write.
	msg.DeliveryID, msg.Outcome = d.ID, "score"
	// A bare score into another band drops the comment it kept unless
	// the new band asks the same follow-up (store.AnswerInbound).
	created, _, err := st.AnswerInbound(ctx, msg, d, r, sv.sv.Kind, answerable, text)
	if err != nil {
		return replyOutcome{}, err
	}
	out := replyOutcome{answer: words.ThanksComment, deliveryID: d.ID, outcome: "score", responseID: r.ID, created: created}
	if r.Comment == "" {
		out.answer = words.thank(text.FollowUp(r.Category))
	}
	return out, nil
}

// thanksWords open a follow-up that already thanks, in the built-in texts
// ("Thank you! What do you like most…", "谢谢。是什么…") or a survey's own.
var thanksWords = []string{"thank", "thx", "谢谢", "謝謝", "感谢", "感謝", "多谢", "多謝"}

// thank is the answer to a score: thanks, then the follow-up question,
// without thanking twice when the question starts with thanks. Chinese
// puts no space after its full-width punctuation.
func (w smsWords) thank(followUp string) string {
	followUp = strings.TrimSpace(followUp)
	lower := strings.ToLower(followUp)
	for _, t := range thanksWords {
		if strings.HasPrefix(lower, t) {
			return followUp
		}
	}
	if followUp == "" {
		return w.Thanks
	}
	return w.Thanks + w.sep + followUp
}

// openDelivery finds the newest SMS or WhatsApp delivery to the number that
// is still inside its survey's reply window, with its survey and the
// answer so far, in one query (surveys come from the cache while they are
// unchanged).
//
// The query has no lower bound on the deliveries' creation time: none
// derived from the configuration would be safe. A delivery is created up
// to maxDelay (a year) before it is sent and its window runs from the
// sending, and a survey's own reply_window has no upper limit, so any cap
// (it was 90 days) closes surveys that are still open. The newest-first
// LIMIT on the (address, created_at) index bounds the work instead, and
// each candidate's own window decides below.
func (a *API) openDelivery(ctx context.Context, st *store.Store, from string, now time.Time) (*store.ReplyCandidate, *cachedSurvey, error) {
	list, err := st.ReplyCandidatesTo(ctx, []string{"sms", "whatsapp"}, from, time.Time{}, 20)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range list {
		d := c.Delivery
		sv, err := a.surveys.get(ctx, st, d.SurveyKey, c.SurveyUpdatedAt)
		if err != nil {
			return nil, nil, err
		}
		window := a.cfg.SMSReplyWindow
		if sv.sv.ReplyWindow > 0 {
			window = sv.sv.ReplyWindow
		}
		start := d.CreatedAt
		if d.SentAt != nil {
			start = *d.SentAt
		}
		if now.Before(start.Add(window)) && now.Before(d.ExpiresAt) {
			return c, sv, nil
		}
	}
	return nil, nil, nil
}

// cleanText makes what a customer sent storable: valid UTF-8, no NUL
// (PostgreSQL refuses both in text).
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func joinComment(old, add string) string {
	switch {
	case add == "":
		return old
	case old == "":
		return add
	}
	return old + "\n" + add
}

// twilioStatus moves deliveries along as Twilio reports them. Callbacks can
// come twice or out of order; each move is a compare-and-set from the
// states that come before it, so a status never goes backwards.
func (a *API) twilioStatus(c *gin.Context) {
	params, ok := a.twilioParams(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	sid := params["MessageSid"]
	var (
		d   *store.Delivery
		err error
	)
	// The callback URL carries our delivery id, so a callback that beats
	// our own record of the send still finds its delivery.
	if id := c.Query("d"); id != "" {
		d, err = a.cfg.Store.GetDelivery(ctx, id)
		if err == nil && d.ProviderMessageID != "" && sid != "" && d.ProviderMessageID != sid {
			err = store.ErrNotFound
		}
	} else {
		d, err = a.cfg.Store.GetDeliveryByProviderID(ctx, channelOf(params["To"]), sid)
	}
	if errors.Is(err, store.ErrNotFound) {
		c.Status(http.StatusNoContent) // not ours (or erased): nothing to retry
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	upd := store.Update{ProviderMessageID: sid}
	switch status := params["MessageStatus"]; status {
	case "sent":
		_, err = a.cfg.Store.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSending}, store.StatusSent, upd)
	case "delivered", "read":
		_, err = a.cfg.Store.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSending, store.StatusSent}, store.StatusDelivered, upd)
	case "undelivered", "failed":
		// Twilio's undelivered (the carrier could not hand it to the
		// phone) is folded into failed: deliveries have no undelivered
		// status, and for us the two end alike, final and not read, with
		// no retry. The reason keeps which it was and Twilio's code:
		// "undelivered: 30003 Unreachable destination handset".
		code := params["ErrorCode"]
		upd.Reason = twilioFailure(status, strings.TrimSpace(code))
		if code == "21610" {
			if err = a.cfg.Store.OptOutContact(ctx, d.ContactID, "stop", a.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				break
			}
			upd.Reason = "opted_out: twilio 21610"
			a.optedOut(ctx, d.ContactID, d.Channel, "twilio 21610")
			_, err = a.cfg.Store.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSending, store.StatusSent}, store.StatusSuppressed, upd)
			break
		}
		_, err = a.cfg.Store.Transition(ctx, d.ID, []store.DeliveryStatus{store.StatusSending, store.StatusSent}, store.StatusFailed, upd)
	default:
		// queued, accepted, sending, scheduled: nothing we track.
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	// Counted once handled, so Twilio's retry of a callback we failed to
	// record is not counted twice; a repeated callback is (it was sent).
	a.metrics.deliveryReport(d.Channel, params["MessageStatus"], strings.TrimSpace(params["ErrorCode"]))
	c.Status(http.StatusNoContent)
}

// twilioErrors name the error codes a status callback carries most, as
// Twilio's error dictionary does; the callback sends the code alone.
var twilioErrors = map[string]string{
	"30001": "Queue overflow",
	"30002": "Account suspended",
	"30003": "Unreachable destination handset",
	"30004": "Message blocked",
	"30005": "Unknown destination handset",
	"30006": "Landline or unreachable carrier",
	"30007": "Message filtered by the carrier",
	"30008": "Unknown error",
	"30009": "Missing segment",
	"30010": "Message price exceeds max price",
	"21211": "Invalid 'To' phone number",
	"21408": "Permission to send to this region is not enabled",
	"21610": "Recipient unsubscribed",
	"21612": "The 'To' number is not reachable",
	"21614": "'To' number is not a valid mobile number",
	"63003": "Channel could not find the 'To' address",
	"63016": "Outside the WhatsApp 24-hour window; use a template",
}

// twilioFailure is the reason a failed or undelivered status records:
// the status, then Twilio's code and what it means when the callback has a
// code ("undelivered: 30003 Unreachable destination handset").
func twilioFailure(status, code string) string {
	detail := strings.TrimSpace(code + " " + twilioErrors[code])
	if detail == "" {
		return status
	}
	return status + ": " + detail
}

func channelOf(to string) string {
	if strings.HasPrefix(to, "whatsapp:") {
		return "whatsapp"
	}
	return "sms"
}
