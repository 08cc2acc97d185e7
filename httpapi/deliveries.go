package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
)

type deliveryJSON struct {
	ID                string            `json:"id"`
	Survey            string            `json:"survey"`
	ContactID         string            `json:"contact_id"`
	Channel           string            `json:"channel"`
	Locale            string            `json:"locale"`
	Status            string            `json:"status"`
	Reason            string            `json:"reason,omitempty"`
	ProviderMessageID string            `json:"provider_message_id,omitempty"`
	Source            string            `json:"source"`
	IdempotencyKey    string            `json:"idempotency_key,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Attempts          int               `json:"attempts"`
	SendAt            time.Time         `json:"send_at"`
	ExpiresAt         time.Time         `json:"expires_at"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	SentAt            *time.Time        `json:"sent_at,omitempty"`
	DeliveredAt       *time.Time        `json:"delivered_at,omitempty"`
	RespondedAt       *time.Time        `json:"responded_at,omitempty"`
	Events            []eventJSON       `json:"events"`
	// ReminderOf and ReminderN describe a reminder; Reminders lists a
	// survey's reminders.
	ReminderOf string         `json:"reminder_of,omitempty"`
	ReminderN  int            `json:"reminder_n,omitempty"`
	Reminders  []reminderJSON `json:"reminders,omitempty"`
}

type reminderJSON struct {
	ID      string    `json:"id"`
	N       int       `json:"n"`
	Channel string    `json:"channel"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	SendAt  time.Time `json:"send_at"`
}

type eventJSON struct {
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

func (a *API) getDelivery(c *gin.Context) {
	d, err := a.cfg.Store.GetDelivery(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("delivery")
		}
		a.fail(c, err)
		return
	}
	events, err := a.cfg.Store.DeliveryEvents(c.Request.Context(), d.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := deliveryJSON{
		ID: d.ID, Survey: d.SurveyKey, ContactID: d.ContactID, Channel: d.Channel, Locale: d.Locale,
		Status: string(d.Status), Reason: d.Reason, ProviderMessageID: d.ProviderMessageID, Source: d.Source,
		IdempotencyKey: d.IdempotencyKey, Metadata: d.Metadata, Attempts: d.Attempts, SendAt: d.SendAt,
		ExpiresAt: d.ExpiresAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, SentAt: d.SentAt,
		DeliveredAt: d.DeliveredAt, RespondedAt: d.RespondedAt, Events: []eventJSON{},
	}
	for _, e := range events {
		out.Events = append(out.Events, eventJSON{Status: string(e.Status), Reason: e.Reason, At: e.At})
	}
	out.ReminderOf, out.ReminderN = d.ReminderOf, d.ReminderN
	rems, err := a.cfg.Store.RemindersOf(c.Request.Context(), d.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	for _, r := range rems {
		out.Reminders = append(out.Reminders, reminderJSON{ID: r.ID, N: r.ReminderN, Channel: r.Channel, Status: string(r.Status), Reason: r.Reason, SendAt: r.SendAt})
	}
	c.JSON(http.StatusOK, out)
}
