package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

func benchDeliveries(n int, prefix string) []*store.Delivery {
	now := time.Now()
	ds := make([]*store.Delivery, n)
	for i := range ds {
		ds[i] = &store.Delivery{ID: fmt.Sprintf("%s-%07d", prefix, i), SurveyKey: "bench", ContactID: fmt.Sprintf("c%07d", i),
			Channel: "email", Address: fmt.Sprintf("c%07d@customer.example", i), Locale: "en",
			Token: fmt.Sprintf("%s%07d", prefix, i), Status: store.StatusQueued, Source: "campaign",
			Metadata: map[string]string{"campaign": "cmp", "run": "1"}, SendAt: now, ExpiresAt: now.Add(720 * time.Hour)}
	}
	return ds
}

func benchStore(b *testing.B) *store.Store {
	st := testenv.Store(b)
	if err := st.CreateSurvey(context.Background(), &store.Survey{Key: "bench", ProductName: "Acme"}); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkCommitPage writes one fan-out page: 1,000 deliveries with their
// first events and the run's cursor, in one transaction. SQLite, or
// PostgreSQL when NPSGATE_TEST_POSTGRES is set.
func BenchmarkCommitPage(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	page := 0
	b.ReportAllocs()
	for b.Loop() {
		ds := benchDeliveries(1000, fmt.Sprintf("p%05d", page))
		page++
		if _, err := st.CommitPage(ctx, "", "", ds, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(page*1000)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkTransition is one status change of a delivery: the
// compare-and-set UPDATE and its event, in a transaction, as the send
// pipeline writes two per message (sending, sent).
func BenchmarkTransition(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	ds := benchDeliveries(100, "t")
	if _, err := st.CommitPage(ctx, "", "", ds, nil); err != nil {
		b.Fatal(err)
	}
	queued := []store.DeliveryStatus{store.StatusQueued}
	sending := []store.DeliveryStatus{store.StatusSending}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		d := ds[i%len(ds)]
		from, to := queued, store.StatusSending
		if (i/len(ds))%2 == 1 {
			from, to = sending, store.StatusQueued
		}
		if ok, err := st.Transition(ctx, d.ID, from, to, store.Update{}); err != nil || !ok {
			b.Fatalf("transition %d: %v %v", i, ok, err)
		}
		i++
	}
}

// BenchmarkGetDelivery reads a delivery by id, as the send pipeline does
// first for every task.
func BenchmarkGetDelivery(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	ds := benchDeliveries(1000, "g")
	if _, err := st.CommitPage(ctx, "", "", ds, nil); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.GetDelivery(ctx, ds[i%len(ds)].ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
