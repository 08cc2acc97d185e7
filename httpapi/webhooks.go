package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

type webhookJSON struct {
	ID     string   `json:"id,omitempty"`
	URL    string   `json:"url"`
	Secret string   `json:"secret,omitempty"`
	Events []string `json:"events"`
	// Enabled defaults to true.
	Enabled   *bool      `json:"enabled,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// createWebhook subscribes a URL to events. Without a secret one is made
// and returned once, in the answer to this call; it is never shown again.
func (a *API) createWebhook(c *gin.Context) {
	var in webhookJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		a.fail(c, badField("url", "url must be an absolute http(s) URL"))
		return
	}
	if len(in.Events) == 0 {
		a.fail(c, badField("events", "events must list at least one of %v", dispatcher.EventTypes))
		return
	}
	for i, e := range in.Events {
		if !known(e) {
			a.fail(c, badField(fmt.Sprintf("events[%d]", i), "unknown event %q (want one of %v)", e, dispatcher.EventTypes))
			return
		}
	}
	if in.Secret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		in.Secret = "whsec_" + base64.StdEncoding.EncodeToString(b)
	} else if raw, ok := strings.CutPrefix(in.Secret, "whsec_"); !ok || decodesTo(raw) < 24 {
		a.fail(c, badField("secret", "secret must be whsec_ followed by at least 24 bytes in base64 (or leave it out to get one)"))
		return
	}
	w := &store.WebhookSubscription{ID: "wh_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""),
		URL: in.URL, Secret: in.Secret, Events: in.Events, Enabled: in.Enabled == nil || *in.Enabled}
	if err := a.cfg.Store.CreateWebhook(c.Request.Context(), w); err != nil {
		a.fail(c, err)
		return
	}
	out := webhookToJSON(w)
	out.Secret = w.Secret
	c.JSON(http.StatusCreated, out)
}

func decodesTo(b64 string) int {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0
	}
	return len(b)
}

func known(event string) bool {
	for _, e := range dispatcher.EventTypes {
		if e == event {
			return true
		}
	}
	return event == "*"
}

func webhookToJSON(w *store.WebhookSubscription) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, Events: w.Events, Enabled: &w.Enabled, CreatedAt: &w.CreatedAt}
}

func (a *API) listWebhooks(c *gin.Context) {
	list, err := a.cfg.Store.ListWebhooks(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]webhookJSON, 0, len(list))
	for _, w := range list {
		out = append(out, webhookToJSON(w))
	}
	c.JSON(http.StatusOK, gin.H{"webhooks": out})
}

func (a *API) getWebhook(c *gin.Context) {
	w, err := a.cfg.Store.GetWebhook(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("webhook")
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, webhookToJSON(w))
}

func (a *API) deleteWebhook(c *gin.Context) {
	if err := a.cfg.Store.DeleteWebhook(c.Request.Context(), c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("webhook")
		}
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type attemptJSON struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	Response   string    `json:"response,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

type webhookEventJSON struct {
	ID        string        `json:"id"`
	EventID   string        `json:"event_id"`
	Type      string        `json:"type"`
	Status    string        `json:"status"`
	Attempts  []attemptJSON `json:"attempts"`
	CreatedAt time.Time     `json:"created_at"`
}

// webhookDeliveries shows each event sent to a subscription with every
// attempt and what the receiver answered.
func (a *API) webhookDeliveries(c *gin.Context) {
	ctx := c.Request.Context()
	if _, err := a.cfg.Store.GetWebhook(ctx, c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("webhook")
		}
		a.fail(c, err)
		return
	}
	limit, err := intParam(c, "limit", 50, 1, 500)
	if err != nil {
		a.fail(c, err)
		return
	}
	events, err := a.cfg.Store.ListWebhookEvents(ctx, c.Param("id"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]webhookEventJSON, 0, len(events))
	for _, e := range events {
		atts, err := a.cfg.Store.WebhookAttempts(ctx, e.ID)
		if err != nil {
			a.fail(c, err)
			return
		}
		j := webhookEventJSON{ID: e.ID, EventID: e.EventID, Type: e.Type, Status: e.Status, CreatedAt: e.CreatedAt, Attempts: []attemptJSON{}}
		for _, at := range atts {
			j.Attempts = append(j.Attempts, attemptJSON{At: at.At, StatusCode: at.StatusCode, Response: at.Response, Error: at.Error, DurationMS: at.Duration.Milliseconds()})
		}
		out = append(out, j)
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": out})
}

// replayWebhook sends a (failed) event again, with a fresh retry budget.
func (a *API) replayWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	e, err := a.cfg.Store.GetWebhookEvent(ctx, c.Param("event"))
	if err != nil || e.SubscriptionID != c.Param("id") {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			err = notFound("webhook delivery")
		}
		a.fail(c, err)
		return
	}
	if e.Status == "pending" {
		a.fail(c, &apiError{Status: http.StatusConflict, Code: "conflict", Message: "the event is still being delivered"})
		return
	}
	if err := a.cfg.Store.SetWebhookEventStatus(ctx, e.ID, "pending"); err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Dispatcher.Enqueue(ctx, dispatcher.SendWebhook{EventID: e.ID},
		asynq.TaskID(fmt.Sprintf("webhook:%s:replay:%d", e.ID, time.Now().UnixNano())), asynq.Queue(dispatcher.QueueWebhooks), asynq.MaxRetry(dispatcher.WebhookRetries)); err != nil {
		// Left pending, with no task to send it, the event could never be
		// replayed again (pending answers 409): put back its status.
		if rerr := a.cfg.Store.SetWebhookEventStatus(ctx, e.ID, e.Status); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore status %q: %w", e.Status, rerr))
		}
		a.fail(c, fmt.Errorf("%w: %w", errQueueUnavailable, err))
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": e.ID, "status": "pending"})
}
