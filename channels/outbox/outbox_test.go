package outbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/channels/channeltest"
	"github.com/npsgate/npsgate/channels/outbox"
	"github.com/npsgate/npsgate/store"
)

// memKeeper is an in-memory Keeper that can fail or hang on command.
type memKeeper struct {
	mode atomic.Int32
	mu   sync.Mutex
	kept []store.OutboxMessage
}

var errDiskFull = errors.New("database or disk is full")

func (k *memKeeper) KeepOutbox(ctx context.Context, m *store.OutboxMessage) error {
	switch channeltest.Mode(k.mode.Load()) {
	case channeltest.FailTemporary:
		return errDiskFull
	case channeltest.Hang:
		<-ctx.Done()
		return ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	m.ID = int64(len(k.kept) + 1)
	k.kept = append(k.kept, *m)
	return nil
}

func (k *memKeeper) Set(m channeltest.Mode) bool {
	if m == channeltest.FailPermanent {
		return false // storage faults are never the message's fault
	}
	k.mode.Store(int32(m))
	return true
}

func (k *memKeeper) Received() []channeltest.Received {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]channeltest.Received, 0, len(k.kept))
	for _, m := range k.kept {
		out = append(out, channeltest.Received{To: m.To, Subject: m.Subject, Body: m.Text + "\n" + m.HTML})
	}
	return out
}

func TestSuite(t *testing.T) {
	channeltest.Exercise(t, channeltest.Harness{
		Subject: true,
		New: func(t *testing.T) (channels.Channel, channeltest.Provider) {
			k := &memKeeper{}
			return outbox.New("email", k), k
		},
	})
}

func TestKeepsEverything(t *testing.T) {
	k := &memKeeper{}
	ch := outbox.New("sms", k)
	if ch.Name() != "sms" {
		t.Errorf("Name %q", ch.Name())
	}
	m := channeltest.EmailMessage(7)
	res, err := ch.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderID != "outbox-1" {
		t.Errorf("ProviderID %q", res.ProviderID)
	}
	got := k.kept[0]
	if got.DeliveryID != m.DeliveryID || got.Channel != "sms" || got.To != m.To || got.Subject != m.Subject ||
		got.Text != m.Text || got.HTML != m.HTML || got.ReplyURL != m.ReplyURL || got.CreatedAt.IsZero() {
		t.Errorf("kept %+v from %+v", got, m)
	}
}

func TestStorageErrorIsRetryable(t *testing.T) {
	k := &memKeeper{}
	k.Set(channeltest.FailTemporary)
	_, err := outbox.New("email", k).Send(context.Background(), channeltest.EmailMessage(1))
	var pe *channels.Error
	if !errors.As(err, &pe) || pe.Kind != channels.Retryable || !errors.Is(err, errDiskFull) || pe.Channel != "email" {
		t.Fatalf("err = %v, want Retryable wrapping the storage error", err)
	}
}

// idlessKeeper does not report a row id.
type idlessKeeper struct{}

func (idlessKeeper) KeepOutbox(context.Context, *store.OutboxMessage) error { return nil }

func TestProviderIDWithoutRowID(t *testing.T) {
	res, err := outbox.New("email", idlessKeeper{}).Send(context.Background(), channeltest.EmailMessage(3))
	if err != nil || res.ProviderID != "outbox-dlv-0003" {
		t.Errorf("ProviderID %q, err %v", res.ProviderID, err)
	}
}
