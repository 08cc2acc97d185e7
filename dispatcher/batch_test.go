package dispatcher_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/channels"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

// batchOf writes n deliveries to n contacts, the first optedOut of them
// opted out.
func (e *env) batchOf(n, optedOut int) []*store.Delivery {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now()
	var ds []*store.Delivery
	for i := range n {
		cid := fmt.Sprintf("b%03d", i)
		if _, err := e.st.UpsertContact(ctx, &store.Contact{ExternalID: cid, Name: "Name " + cid, Email: cid + "@example.com", Locale: "en"}); err != nil {
			e.t.Fatal(err)
		}
		if i < optedOut {
			if err := e.st.OptOutContact(ctx, cid, "test", now); err != nil {
				e.t.Fatal(err)
			}
		}
		seq++
		d := &store.Delivery{ID: fmt.Sprintf("batch-%s-%03d-%d", now.Format("150405.000000"), i, seq), SurveyKey: "s", ContactID: cid,
			Channel: "email", Address: cid + "@example.com", Locale: "en", Token: fmt.Sprintf("tok-%d-%03d", now.UnixNano(), i),
			Status: store.StatusQueued, Source: "campaign", SendAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, _, err := e.st.CreateDelivery(ctx, d); err != nil {
			e.t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

// enqueueBatch queues ds as one SendBatch, whatever their number.
func (e *env) enqueueBatch(ds []*store.Delivery) {
	e.t.Helper()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	if err := e.client.Enqueue(context.Background(), dispatcher.SendBatch{IDs: ids}, asynq.Queue(dispatcher.DeliveryQueue("email"))); err != nil {
		e.t.Fatal(err)
	}
}

// sentTo counts the messages the channel took per delivery.
func (e *env) sentTo() map[string]int {
	e.ch.mu.Lock()
	defer e.ch.mu.Unlock()
	out := map[string]int{}
	for _, m := range e.ch.sent {
		out[m.DeliveryID]++
	}
	return out
}

// TestScheduleDeliveriesInBatches: a page of a big campaign goes in
// batches of BatchSize, queued once however often the page is.
func TestScheduleDeliveriesInBatches(t *testing.T) {
	e := newEnv(t)
	ds := e.batchOf(16*dispatcher.BatchSize+3, 0)
	if err := e.client.ScheduleDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	// Again, as a retried campaign page does: nothing more.
	if err := e.client.ScheduleDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	info, err := asynq.NewInspector(e.redis).GetQueueInfo(dispatcher.DeliveryQueue("email"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 17 {
		t.Fatalf("%d tasks for %d deliveries, want 17 batches", info.Pending, len(ds))
	}
}

// TestSendBatch: a batch sends each delivery once, personalized, applies
// the opt-outs, and hands a delivery whose send failed for now to a task
// of its own, which sends it.
func TestSendBatch(t *testing.T) {
	e := newEnv(t, &channels.Error{Channel: "email", Kind: channels.Retryable, Code: "451", Message: "try later"})
	ds := e.batchOf(12, 2)
	e.enqueueBatch(ds)
	e.worker()
	for i, d := range ds {
		want := store.StatusSent
		if i < 2 {
			want = store.StatusSuppressed
		}
		e.wait(d.ID, want)
	}
	per := e.sentTo()
	for i, d := range ds[2:] {
		if per[d.ID] != 1 {
			t.Errorf("delivery %d: %d messages, want 1", i+2, per[d.ID])
		}
	}
	if calls, sent := e.ch.count(); calls != 11 || sent != 10 {
		t.Fatalf("%d provider calls, %d sent; want 11 and 10 (one retried alone)", calls, sent)
	}
	for _, m := range e.ch.sent {
		if !strings.Contains(m.Text, "Hi Name b0") {
			t.Fatalf("not personalized: %q", m.Text)
		}
	}
}

// TestBatchAndSingleTasksSendOnce: the recoverer may queue a delivery of a
// batch still waiting in a backlog as a task of its own; whichever runs
// first sends it, the other finds it taken.
func TestBatchAndSingleTasksSendOnce(t *testing.T) {
	e := newEnv(t)
	ds := e.batchOf(30, 0)
	for _, d := range ds {
		if err := e.client.ScheduleDelivery(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	e.enqueueBatch(ds)
	e.worker()
	for _, d := range ds {
		e.wait(d.ID, store.StatusSent)
	}
	time.Sleep(300 * time.Millisecond) // the slower of each pair has run
	for _, d := range ds {
		if n := e.sentTo()[d.ID]; n != 1 {
			t.Fatalf("delivery %s: %d messages", d.ID, n)
		}
	}
}

// TestBatchStopsAtShutdown: a batch that runs while its worker stops starts
// no more sends and hands its deliveries back, still queued.
func TestBatchStopsAtShutdown(t *testing.T) {
	e := newEnv(t)
	ds := e.batchOf(5, 0)
	w := dispatcher.NewWorker(e.redis, dispatcher.WorkerConfig{Concurrency: 1, Logger: quiet()}, e.sender, nil, nil)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	w.Shutdown()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	err := e.sender.SendBatch(context.Background(), dispatcher.SendBatch{IDs: ids})
	if err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("SendBatch after shutdown = %v", err)
	}
	if calls, _ := e.ch.count(); calls != 0 {
		t.Fatalf("%d sends after shutdown", calls)
	}
	for _, d := range ds {
		if got, _ := e.st.GetDelivery(context.Background(), d.ID); got.Status != store.StatusQueued {
			t.Fatalf("delivery %s", got.Status)
		}
	}
}
