package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/store"
)

// deliveryTasks maps every delivery ID with a waiting task in the queues
// to that task: its own, or the batch that carries it.
func deliveryTasks(t *testing.T, insp *asynq.Inspector, queues ...string) map[string]*asynq.TaskInfo {
	t.Helper()
	out := map[string]*asynq.TaskInfo{}
	for _, q := range queues {
		var infos []*asynq.TaskInfo
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListPendingTasks, insp.ListScheduledTasks} {
			for page := 1; ; page++ {
				got, err := list(q, asynq.PageSize(1000), asynq.Page(page))
				if err != nil {
					t.Fatalf("list %s: %v", q, err)
				}
				infos = append(infos, got...)
				if len(got) < 1000 {
					break
				}
			}
		}
		for _, info := range infos {
			switch info.Type {
			case (dispatcher.SendDelivery{}).Kind():
				out[info.ID] = info
			case (dispatcher.SendBatch{}).Kind():
				var b dispatcher.SendBatch
				if err := json.Unmarshal(info.Payload, &b); err != nil {
					t.Fatal(err)
				}
				for _, id := range b.IDs {
					if out[id] != nil {
						t.Fatalf("delivery %s in two tasks", id)
					}
					out[id] = info
				}
			}
		}
	}
	return out
}

// TestScheduleDeliveries: many sends queued at once, in batches of one
// family and send time (a lone one as a task of its own), each at its
// time; queuing them again adds nothing; a Redis that is down is an error.
func TestScheduleDeliveries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// All in the future: a worker of a test run beside this one on the
	// same Redis must not take them.
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	var ds []*store.Delivery
	for i := 0; i < 700; i++ {
		ch, at := "email", later
		switch {
		case i%3 == 0:
			ch = "sms"
		case i%7 == 0:
			ch = "whatsapp" // the sms family: batched with the SMS
		}
		if i%100 == 99 {
			at = later.Add(time.Duration(i) * time.Minute) // alone at its time
		}
		ds = append(ds, &store.Delivery{ID: fmt.Sprintf("sd-%04d", i), Channel: ch, SendAt: at})
	}
	for round := 0; round < 2; round++ { // the second time every ID exists
		if err := e.client.ScheduleDeliveries(ctx, ds); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	tasks := deliveryTasks(t, insp, dispatcher.DeliveryQueue("email"), dispatcher.DeliveryQueue("sms"))
	distinct := map[string]bool{}
	for _, d := range ds {
		info := tasks[d.ID]
		if info == nil {
			t.Fatalf("%s has no task", d.ID)
		}
		if info.Queue != dispatcher.DeliveryQueue(d.Channel) || info.State != asynq.TaskStateScheduled || info.NextProcessAt.Unix() != d.SendAt.Unix() {
			t.Fatalf("%s: %s in %s, %s at %v, want scheduled at %v", d.ID, info.Type, info.Queue, info.State, info.NextProcessAt, d.SendAt)
		}
		if d.ID[len(d.ID)-2:] == "99" && info.Type != (dispatcher.SendDelivery{}).Kind() {
			t.Fatalf("%s is alone at its time but went as a %s", d.ID, info.Type)
		}
		distinct[info.ID] = true
	}
	// 7 alone; at the common time 396 emails in batches of 396/16 = 24
	// (17 tasks) and 297 SMS and WhatsApp messages in batches of 18 (17).
	if len(distinct) != 7+17+17 {
		t.Fatalf("%d tasks for %d deliveries, want 41", len(distinct), len(ds))
	}
}

func TestScheduleDeliveriesRedisDown(t *testing.T) {
	down := asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond}
	c := dispatcher.NewClient(down, 2)
	defer c.Close()
	ds := []*store.Delivery{{ID: "a", Channel: "email"}, {ID: "b", Channel: "email"}, {ID: "c", Channel: "sms"}}
	if err := c.ScheduleDeliveries(context.Background(), ds); err == nil {
		t.Fatal("no error with Redis down")
	}
}
