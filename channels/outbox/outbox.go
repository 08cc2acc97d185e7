// Package outbox is the channel that keeps messages instead of sending
// them. It stands in for a real channel ("email", "sms", ...) when no
// provider is configured, so a newcomer can open the rendered message in the
// dashboard, follow its link and answer.
package outbox

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/store"
)

// Keeper is what the outbox needs from storage (store.Store implements it).
// KeepOutbox should set m.ID to the kept row's id.
type Keeper interface {
	KeepOutbox(ctx context.Context, m *store.OutboxMessage) error
}

// Channel keeps messages through a Keeper.
type Channel struct {
	name string
	k    Keeper
	now  func() time.Time
}

var _ channels.Channel = (*Channel)(nil)

// New returns an outbox registered under name, the channel it stands in
// for, so deliveries and templates need not know a provider is missing.
func New(name string, k Keeper) *Channel {
	return &Channel{name: name, k: k, now: time.Now}
}

// Name implements channels.Channel.
func (c *Channel) Name() string { return c.name }

// Send keeps the message. The ProviderID is "outbox-<row id>" (the delivery
// id if the Keeper set no row id). Storage errors are Retryable: the
// message is fine, the database is not.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("outbox: %w", err)
	}
	if m == nil {
		return channels.Result{}, &channels.Error{Channel: c.name, Kind: channels.Permanent, Message: "nil message"}
	}
	om := &store.OutboxMessage{
		DeliveryID: m.DeliveryID,
		Channel:    c.name,
		To:         m.To,
		Subject:    m.Subject,
		Text:       m.Text,
		HTML:       m.HTML,
		ReplyURL:   m.ReplyURL,
		CreatedAt:  c.now().UTC(),
	}
	if err := c.k.KeepOutbox(ctx, om); err != nil {
		if ctx.Err() != nil {
			return channels.Result{}, fmt.Errorf("outbox: %w", ctx.Err())
		}
		return channels.Result{}, &channels.Error{Channel: c.name, Kind: channels.Retryable, Message: "keep: " + err.Error(), Err: err}
	}
	id := m.DeliveryID
	if om.ID != 0 {
		id = strconv.FormatInt(om.ID, 10)
	}
	return channels.Result{ProviderID: "outbox-" + id}, nil
}
