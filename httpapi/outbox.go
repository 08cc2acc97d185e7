package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

type outboxJSON struct {
	ID         int64     `json:"id"`
	DeliveryID string    `json:"delivery_id"`
	Channel    string    `json:"channel"`
	To         string    `json:"to"`
	Subject    string    `json:"subject,omitempty"`
	Text       string    `json:"text"`
	HTML       string    `json:"html,omitempty"`
	ReplyURL   string    `json:"reply_url"`
	CreatedAt  time.Time `json:"created_at"`
}

// listOutbox shows what the outbox channel kept, newest first; ?before=ID
// pages back.
func (a *API) listOutbox(c *gin.Context) {
	limit, err := intParam(c, "limit", 50, 1, 500)
	if err != nil {
		a.fail(c, err)
		return
	}
	var before int64
	if s := c.Query("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before < 1 {
			a.fail(c, badField("before", "before must be a message id"))
			return
		}
	}
	msgs, err := a.cfg.Store.ListOutbox(c.Request.Context(), limit, before)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]outboxJSON, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, outboxJSON{ID: m.ID, DeliveryID: m.DeliveryID, Channel: m.Channel, To: m.To,
			Subject: m.Subject, Text: m.Text, HTML: m.HTML, ReplyURL: m.ReplyURL, CreatedAt: m.CreatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"messages": out})
}

func intParam(c *gin.Context, name string, def, lo, hi int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badField(name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}
