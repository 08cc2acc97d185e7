package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

type triggerJSON struct {
	Survey         string            `json:"survey"`
	Contact        *contactJSON      `json:"contact"`
	Delay          string            `json:"delay,omitempty"`
	SendAt         string            `json:"send_at,omitempty"`
	Channel        string            `json:"channel,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// ThrottleDays overrides the fatigue windows for this survey (see
	// dispatcher.Gate.Windows). N > 0: the survey rests the contact N days
	// from its send, answered or not, in place of the survey's and the
	// gateway's windows; like any survey it is suppressed (fatigue) while
	// another survey's rest holds the contact. 0: the survey is exempt from
	// fatigue, going through another's rest and resting nobody.
	ThrottleDays *int `json:"throttle_days,omitempty"`
}

type triggerAnswer struct {
	DeliveryID string    `json:"delivery_id"`
	Status     string    `json:"status"`
	Channel    string    `json:"channel"`
	SendAt     time.Time `json:"send_at"`
	// Replayed is true when the idempotency key was seen before and this
	// is the delivery it made then.
	Replayed bool `json:"replayed"`
}

const maxDelay = 366 * 24 * time.Hour

// createTrigger is transactional NPS: "survey this contact in two days".
// The contact upsert and the delivery row are written in one transaction,
// then the task is enqueued with the delivery ID as its task ID.
func (a *API) createTrigger(c *gin.Context) {
	var once *triggerOnce
	if a.triggerSigner != nil {
		var replay *store.Delivery
		var err error
		if once, replay, err = a.verifyTrigger(c); err != nil {
			a.fail(c, err)
			return
		}
		if replay != nil {
			a.answerTrigger(c, replay, false)
			return
		}
		// Whatever ends this request without a delivery forgets the id,
		// so the sender's retry is a new request, not a replay.
		defer once.forget(c.Request.Context())
	}
	var in triggerJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	if h := c.GetHeader("Idempotency-Key"); h != "" {
		if in.IdempotencyKey != "" && in.IdempotencyKey != h {
			a.fail(c, badField("idempotency_key", "the Idempotency-Key header and idempotency_key differ"))
			return
		}
		in.IdempotencyKey = h
	}
	if len(in.IdempotencyKey) > 255 {
		a.fail(c, badField("idempotency_key", "idempotency_key is longer than 255 characters"))
		return
	}
	now := a.cfg.Now().UTC()
	sendAt, err := triggerSendAt(in, now)
	if err != nil {
		a.fail(c, err)
		return
	}
	if in.Survey == "" {
		a.fail(c, badField("survey", "survey is required"))
		return
	}
	if in.Contact == nil {
		a.fail(c, badField("contact", "contact is required: {\"external_id\": …} of a saved contact, or its fields to save"))
		return
	}
	if in.Contact.OptedOutAt != nil {
		// An opt-out comes from the person (STOP, unsubscribe), never from
		// the system that fires triggers.
		a.fail(c, badField("contact.opted_out_at", "opted_out_at is set by an opt-out, not by a trigger"))
		return
	}
	if in.ThrottleDays != nil && (*in.ThrottleDays < 0 || *in.ThrottleDays > 3650) {
		a.fail(c, badField("throttle_days", "throttle_days must be from 0 to 3650"))
		return
	}
	for k, v := range in.Metadata {
		if len(k) > 64 || len(v) > 1024 {
			a.fail(c, badField("metadata."+k, "metadata keys are at most 64 and values at most 1024 bytes"))
			return
		}
	}
	sv, err := a.cfg.Store.GetSurvey(c.Request.Context(), in.Survey)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(c, badField("survey", "no survey with key %q", in.Survey))
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	if in.Channel != "" {
		if _, err := a.cfg.Channels.Get(in.Channel); err != nil {
			a.fail(c, badField("channel", "unknown channel %q (have %v)", in.Channel, a.cfg.Channels.Names()))
			return
		}
	}
	incoming, err := a.contactFromJSON(*in.Contact, "contact.")
	if err != nil {
		a.fail(c, err)
		return
	}
	inlineFields := in.Contact.hasFields()

	canonical, _ := json.Marshal(in)
	sum := sha256.Sum256(canonical)
	d := &store.Delivery{
		ID:             uuid.Must(uuid.NewV7()).String(),
		SurveyKey:      sv.Key,
		ContactID:      incoming.ExternalID,
		Token:          dispatcher.NewToken(),
		Status:         store.StatusQueued,
		IdempotencyKey: in.IdempotencyKey,
		RequestHash:    hex.EncodeToString(sum[:]),
		Source:         "trigger",
		Metadata:       in.Metadata,
		SendAt:         sendAt,
		ThrottleDays:   in.ThrottleDays,
	}
	window := a.cfg.ReplyWindow
	if sv.ReplyWindow > 0 {
		window = sv.ReplyWindow
	}
	d.ExpiresAt = sendAt.Add(window)

	var (
		got     *store.Delivery
		created bool
	)
	err = a.cfg.Store.InTx(c.Request.Context(), func(tx *store.Store) error {
		ct, err := tx.GetContact(c.Request.Context(), incoming.ExternalID)
		switch {
		case errors.Is(err, store.ErrNotFound) && !inlineFields:
			return badField("contact.external_id", "no contact %q; send its email or phone to create it", incoming.ExternalID)
		case errors.Is(err, store.ErrNotFound):
			ct = incoming
		case err != nil:
			return err
		default:
			mergeContact(ct, incoming)
		}
		if inlineFields {
			if _, err := tx.UpsertContact(c.Request.Context(), ct); err != nil {
				return err
			}
		}
		ch, addr, err := pickChannel(in.Channel, sv, ct)
		if err != nil {
			return err
		}
		d.Channel, d.Address = ch, addr
		d.Locale = ct.Locale
		if d.Locale == "" {
			d.Locale = "en"
		}
		got, created, err = tx.CreateDelivery(c.Request.Context(), d)
		return err
	})
	if errors.Is(err, store.ErrConflict) && got != nil {
		a.fail(c, &apiError{Status: http.StatusConflict, Code: "idempotency_conflict", Field: "idempotency_key",
			Message: fmt.Sprintf("idempotency key %q was used for a different request (delivery %s)", in.IdempotencyKey, got.ID)})
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	if once != nil {
		// The delivery is written: from now on the webhook-id answers
		// with it, even if queueing it fails below (the sender's retry
		// then queues it, as a replayed idempotency key does).
		once.remember(c.Request.Context(), got.ID)
	}
	a.answerTrigger(c, got, created)
}

// answerTrigger answers with the trigger's delivery, new or replayed.
// Replays are queued too: if the first call wrote the row but could not
// reach Redis, the caller's retry is what queues it. The task ID makes a
// second enqueue of a queued delivery a no-op.
func (a *API) answerTrigger(c *gin.Context, got *store.Delivery, created bool) {
	if got.Status == store.StatusQueued {
		if err := a.cfg.Dispatcher.ScheduleDelivery(c.Request.Context(), got); err != nil {
			a.log.Error("delivery saved but not queued", "delivery_id", got.ID, "err", err)
			a.fail(c, fmt.Errorf("%w: %w", errQueueUnavailable, err))
			return
		}
	}
	if !created {
		c.Header("Idempotent-Replayed", "true")
	}
	c.JSON(http.StatusAccepted, triggerAnswer{DeliveryID: got.ID, Status: string(got.Status), Channel: got.Channel, SendAt: got.SendAt, Replayed: !created})
}

func triggerSendAt(in triggerJSON, now time.Time) (time.Time, error) {
	switch {
	case in.Delay != "" && in.SendAt != "":
		return time.Time{}, badField("send_at", "give delay or send_at, not both")
	case in.Delay != "":
		d, err := parseDuration(in.Delay)
		if err != nil {
			return time.Time{}, badField("delay", "delay must be a duration like \"48h\", \"2d\" or \"90m\"")
		}
		if d < 0 {
			return time.Time{}, badField("delay", "delay must not be negative")
		}
		if d > maxDelay {
			return time.Time{}, badField("delay", "delay must be at most a year")
		}
		return now.Add(d), nil
	case in.SendAt != "":
		t, err := time.Parse(time.RFC3339, in.SendAt)
		if err != nil {
			return time.Time{}, badField("send_at", "send_at must be an RFC 3339 time like 2026-01-02T15:04:05Z")
		}
		if t.Sub(now) > maxDelay {
			return time.Time{}, badField("send_at", "send_at must be within a year")
		}
		if t.Before(now) {
			// A caller's clock a little behind ours, or a queue that caught
			// up late: send now rather than refuse.
			return now, nil
		}
		return t.UTC(), nil
	}
	return now, nil
}

// mergeContact lays the fields a trigger sent over the saved contact, so a
// trigger with just an email does not wipe the phone saved earlier.
func mergeContact(dst, src *store.Contact) {
	set := func(d *string, s string) {
		if s != "" {
			*d = s
		}
	}
	set(&dst.Name, src.Name)
	set(&dst.Email, src.Email)
	set(&dst.Phone, src.Phone)
	set(&dst.Locale, src.Locale)
	set(&dst.TimeZone, src.TimeZone)
	set(&dst.Account, src.Account)
	set(&dst.Role, src.Role)
	if src.Tags != nil {
		dst.Tags = src.Tags
	}
	if len(src.Attributes) > 0 && dst.Attributes == nil {
		dst.Attributes = map[string]string{}
	}
	for k, v := range src.Attributes {
		dst.Attributes[k] = v
	}
}

// addressFor is where a contact is reached on a channel, and the field of
// the trigger that would give it.
func addressFor(channel string, c *store.Contact) (addr, field string) {
	switch channel {
	case "email":
		field = "contact.email"
	case "sms", "whatsapp":
		field = "contact.phone"
	default:
		field = "contact.attributes." + channel + "_webhook"
	}
	return dispatcher.AddressFor(channel, c), field
}

// pickChannel uses the trigger's channel, else the first of the survey's
// channels on which the contact has an address.
func pickChannel(explicit string, sv *store.Survey, c *store.Contact) (string, string, error) {
	if explicit != "" {
		addr, field := addressFor(explicit, c)
		if addr == "" {
			return "", "", badField(field, "contact %q has no address for channel %s", c.ExternalID, explicit)
		}
		return explicit, addr, nil
	}
	for _, ch := range sv.Channels {
		if addr, _ := addressFor(ch, c); addr != "" {
			return ch, addr, nil
		}
	}
	_, field := addressFor(sv.Channels[0], c)
	return "", "", badField(field, "contact %q has no address on any of the survey's channels %v", c.ExternalID, sv.Channels)
}

// triggerTolerance is how far a signed trigger's webhook-timestamp may be
// from our clock (the Standard Webhooks library's, either way), and
// triggerRemember how long a webhook-id is remembered: a request is
// refused once its timestamp is out of the tolerance, so an id must be
// kept at least twice it from when a request carrying it is seen (its
// timestamp may be up to the tolerance ahead of ours).
const (
	triggerTolerance = 5 * time.Minute
	triggerRemember  = 2 * triggerTolerance
)

// triggerOnce is a signed trigger's claim on its webhook-id.
type triggerOnce struct {
	api   *API
	key   string
	owner string
	done  bool
}

// remember records the delivery the id made: a request that carries the
// id again is answered with it. The id stays claimed if this fails: a
// replay is then refused (in progress) until the claim runs out, rather
// than making a second delivery.
func (o *triggerOnce) remember(ctx context.Context, deliveryID string) {
	o.done = true
	// The delivery is written: a caller that hung up must not leave its id
	// without an answer.
	if err := o.api.cfg.Gate.Limiter.SettleOnce(context.WithoutCancel(ctx), o.key, o.owner, deliveryID); err != nil {
		o.api.log.Error("signed trigger's webhook-id not remembered", "delivery_id", deliveryID, "err", err)
	}
}

// forget gives the id up when the request made no delivery.
func (o *triggerOnce) forget(ctx context.Context) {
	if o.done {
		return
	}
	if err := o.api.cfg.Gate.Limiter.ReleaseOnce(context.WithoutCancel(ctx), o.key, o.owner); err != nil {
		o.api.log.Warn("signed trigger's webhook-id not released; a retry waits until it runs out", "err", err)
	}
}

// verifyTrigger checks a signed trigger (Standard Webhooks: webhook-id,
// webhook-timestamp within 5 minutes, webhook-signature over the body) and
// claims its webhook-id, so that a captured request cannot be replayed.
// It returns the claim, or the delivery a request with the same id made
// (the sender's retry, or a replay: both get that answer, and nothing new
// is sent). An id whose first request is still at work is refused (409
// in_progress), and without Redis nothing is accepted (503): a replay
// guard that cannot remember must not let replays through. The body is
// put back for decoding.
func (a *API) verifyTrigger(c *gin.Context) (*triggerOnce, *store.Delivery, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return nil, nil, jsonError(err)
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	if err := a.triggerSigner.Verify(body, c.Request.Header); err != nil {
		return nil, nil, &apiError{Status: http.StatusUnauthorized, Code: "bad_signature",
			Message: "webhook-signature, webhook-timestamp (within 5 minutes) and webhook-id must sign the body with the trigger secret"}
	}
	ctx := c.Request.Context()
	o := &triggerOnce{api: a, key: "trigger-id:" + c.GetHeader("webhook-id"), owner: uuid.NewString()}
	ok, seen, err := a.cfg.Gate.Limiter.ClaimOnce(ctx, o.key, o.owner, triggerRemember)
	if err != nil {
		a.log.Error("signed trigger refused: its webhook-id cannot be checked", "err", err)
		return nil, nil, fmt.Errorf("%w: webhook-id: %w", errQueueUnavailable, err)
	}
	if ok {
		return o, nil, nil
	}
	if seen.Outcome == "" {
		c.Header("Retry-After", "1")
		return nil, nil, &apiError{Status: http.StatusConflict, Code: "in_progress", Field: "webhook-id",
			Message: "a request with this webhook-id is being processed; try again"}
	}
	d, err := a.cfg.Store.GetDelivery(ctx, seen.Outcome)
	if err != nil {
		// Erased since (GDPR): the id did its work; do not do it again.
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, &apiError{Status: http.StatusConflict, Code: "replayed", Field: "webhook-id",
				Message: "this webhook-id was used already"}
		}
		return nil, nil, err
	}
	return nil, d, nil
}
