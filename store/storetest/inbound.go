package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

func testInbound(t *testing.T, s *store.Store) {
	ctx := t.Context()
	m := &store.InboundMessage{Provider: "twilio", ProviderMessageID: "SM1", Channel: "sms", From: "+15550100", To: "+15550199", Body: "9 分",
		DeliveryID: "d1", Outcome: "score"} // what it did is known before it is recorded, in the same transaction
	created, err := s.RecordInbound(ctx, m)
	if err != nil || !created {
		t.Fatalf("RecordInbound = %v, %v", created, err)
	}
	again := *m
	again.Body, again.Outcome = "changed", "opt_out"
	if created, err := s.RecordInbound(ctx, &again); err != nil || created {
		t.Fatalf("a provider retry must not be recorded twice: %v, %v", created, err)
	}
	// The same id from another provider is another message.
	other := *m
	other.Provider = "other"
	if created, err := s.RecordInbound(ctx, &other); err != nil || !created {
		t.Fatalf("other provider: %v, %v", created, err)
	}
	list, err := s.ListInbound(ctx, "+15550100", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListInbound = %d, %v", len(list), err)
	}
	got := list[1]
	wantEqual(t, "inbound", []string{got.Body, got.DeliveryID, got.Outcome, got.To}, []string{"9 分", "d1", "score", "+15550199"})

	// A failed transaction gives the claim back, so the retry is processed.
	boom := errors.New("boom")
	err = s.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.RecordInbound(ctx, &store.InboundMessage{Provider: "twilio", ProviderMessageID: "SM2", Channel: "sms", From: "+1"}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, "InTx", err, boom)
	if created, err := s.RecordInbound(ctx, &store.InboundMessage{Provider: "twilio", ProviderMessageID: "SM2", Channel: "sms", From: "+1"}); err != nil || !created {
		t.Fatalf("after rollback: %v, %v", created, err)
	}
}

func testRecentDeliveriesTo(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustSurvey(t, s, "sms-s", survey.NPS)
	base := time.Now().Add(-time.Hour)
	mk := func(id, channel, addr string, status store.DeliveryStatus, age time.Duration) {
		d := newDelivery("sms-s")
		d.ID, d.Channel, d.Address, d.Status = id, channel, addr, status
		d.CreatedAt = base.Add(-age)
		mustDelivery(t, s, d)
	}
	mk("old", "sms", "+15550100", store.StatusSent, 10*24*time.Hour)
	mk("sent", "sms", "+15550100", store.StatusSent, 2*time.Hour)
	mk("wa", "whatsapp", "+15550100", store.StatusDelivered, time.Hour)
	mk("queued", "sms", "+15550100", store.StatusQueued, 0)
	mk("failed", "sms", "+15550100", store.StatusFailed, 0)
	mk("email", "email", "+15550100", store.StatusSent, 0)
	mk("other", "sms", "+15550111", store.StatusSent, 0)

	got, err := s.RecentDeliveriesTo(ctx, []string{"sms", "whatsapp"}, "+15550100", base.Add(-7*24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	wantEqual(t, "recent deliveries, newest first", ids, []string{"wa", "sent"})

	if _, err := s.Transition(ctx, "sent", []store.DeliveryStatus{store.StatusSent}, store.StatusSent, store.Update{ProviderMessageID: "SMabc"}); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDeliveryByProviderID(ctx, "sms", "SMabc")
	if err != nil || d.ID != "sent" {
		t.Fatalf("GetDeliveryByProviderID = %v, %v", d, err)
	}
	_, err = s.GetDeliveryByProviderID(ctx, "whatsapp", "SMabc")
	wantErr(t, "provider id on another channel", err, store.ErrNotFound)
}

func testContactsByPhone(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, c := range []*store.Contact{
		{ExternalID: "b", Phone: "+15550100"}, {ExternalID: "a", Phone: "+15550100"}, {ExternalID: "c", Phone: "+15550111"},
	} {
		if _, err := s.UpsertContact(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ContactsByPhone(ctx, "+15550100")
	if err != nil || len(got) != 2 || got[0].ExternalID != "a" || got[1].ExternalID != "b" {
		t.Fatalf("ContactsByPhone = %v, %v", got, err)
	}
	if got, err := s.ContactsByPhone(ctx, "+19999999"); err != nil || len(got) != 0 {
		t.Fatalf("unknown number: %v, %v", got, err)
	}
}
