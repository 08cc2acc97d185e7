package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// eachDialect runs f on a fresh store of SQLite and, when configured, of
// PostgreSQL.
func eachDialect(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, testenv.SQLiteStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(testenv.PostgresEnv) == "" {
			t.Skip(testenv.PostgresEnv + " is not set")
		}
		f(t, testenv.PostgresStore(t))
	})
}

func replyID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func replyDelivery(t *testing.T, s *store.Store, surveyKey string, status store.DeliveryStatus, mod func(*store.Delivery)) *store.Delivery {
	t.Helper()
	d := &store.Delivery{ID: replyID("d_"), SurveyKey: surveyKey, ContactID: "c1", Channel: "sms", Address: "+15550100",
		Locale: "zh-CN", Token: replyID("t_"), Status: status, Source: "trigger",
		ExpiresAt: time.Now().Add(time.Hour)}
	if mod != nil {
		mod(d)
	}
	got, created, err := s.CreateDelivery(context.Background(), d)
	if err != nil || !created {
		t.Fatalf("CreateDelivery = %v, %v", created, err)
	}
	return got
}

var answerable = []store.DeliveryStatus{store.StatusQueued, store.StatusSending, store.StatusSent,
	store.StatusDelivered, store.StatusDeferred}

// TestAnswerDelivery: the answer and the delivery's move to responded are
// written together, exactly as SaveResponse and Transition would.
func TestAnswerDelivery(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.CreateSurvey(ctx, &store.Survey{Key: "nps", Kind: survey.NPS, ProductName: "Acme"}); err != nil {
			t.Fatal(err)
		}
		yes := true
		cases := []struct {
			name   string
			status store.DeliveryStatus
			// answers are the scores sent one after the other.
			answers     []int
			wantCreated []bool
			wantMoved   []bool
			wantStatus  store.DeliveryStatus
			wantEvents  int // "responded" events
		}{
			{"sent, answered once", store.StatusSent, []int{3}, []bool{true}, []bool{true}, store.StatusResponded, 1},
			{"delivered, answer changed", store.StatusDelivered, []int{3, 9}, []bool{true, false}, []bool{true, false}, store.StatusResponded, 1},
			{"queued (a fast reader)", store.StatusQueued, []int{10}, []bool{true}, []bool{true}, store.StatusResponded, 1},
			{"suppressed stays suppressed", store.StatusSuppressed, []int{7}, []bool{true}, []bool{false}, store.StatusSuppressed, 0},
			{"failed stays failed", store.StatusFailed, []int{7, 8}, []bool{true, false}, []bool{false, false}, store.StatusFailed, 0},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d := replyDelivery(t, s, "nps", tc.status, nil)
				var first *store.Response
				for i, score := range tc.answers {
					r := &store.Response{DeliveryID: d.ID, Score: score, Comment: "评论", MayContact: &yes, Via: 1}
					if i > 0 {
						r.Channel = "email" // an update keeps the first channel
					}
					created, moved, err := s.AnswerDelivery(ctx, r, survey.NPS, answerable)
					if err != nil {
						t.Fatalf("answer %d: %v", i, err)
					}
					if created != tc.wantCreated[i] || moved != tc.wantMoved[i] {
						t.Fatalf("answer %d: created %v moved %v, want %v %v", i, created, moved, tc.wantCreated[i], tc.wantMoved[i])
					}
					if r.SurveyKey != "nps" || r.ContactID != "c1" || r.Channel != "sms" || r.Locale != "zh-CN" ||
						r.Category != survey.NPS.CategoryOf(score) || r.ID == "" {
						t.Fatalf("answer %d not filled in: %+v", i, r)
					}
					if first == nil {
						first = r
					} else if r.ID != first.ID || !r.CreatedAt.Equal(first.CreatedAt) || r.Via != 1 {
						t.Fatalf("update did not keep id and created_at: %+v then %+v", first, r)
					}
					// Consent is a detractor's alone, and a comment sent
					// back unchanged into another band is dropped (the
					// contract suite's ChangedAnswer has the rules).
					wantComment, wantMay := "评论", survey.NPS.CategoryOf(score) == survey.Detractor
					if i > 0 && survey.NPS.CategoryOf(score) != survey.NPS.CategoryOf(tc.answers[i-1]) {
						wantComment = ""
					}
					got, err := s.GetResponseByDelivery(ctx, d.ID)
					if err != nil || got.ID != r.ID || got.Score != score || got.Comment != wantComment ||
						(got.MayContact != nil) != wantMay || (wantMay && !*got.MayContact) {
						t.Fatalf("stored %+v, %v", got, err)
					}
				}
				got, err := s.GetDelivery(ctx, d.ID)
				if err != nil || got.Status != tc.wantStatus || (tc.wantStatus == store.StatusResponded) != (got.RespondedAt != nil) {
					t.Fatalf("delivery %+v, %v", got, err)
				}
				events, err := s.DeliveryEvents(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range events {
					if e.Status == store.StatusResponded {
						n++
					}
				}
				if n != tc.wantEvents {
					t.Fatalf("%d responded events, want %d: %+v", n, tc.wantEvents, events)
				}
			})
		}

		t.Run("refused", func(t *testing.T) {
			_, _, err := s.AnswerDelivery(ctx, &store.Response{DeliveryID: "nope", Score: 3}, survey.NPS, answerable)
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown delivery: %v", err)
			}
			d := replyDelivery(t, s, "nps", store.StatusSent, nil)
			_, _, err = s.AnswerDelivery(ctx, &store.Response{DeliveryID: d.ID, Score: 11}, survey.NPS, answerable)
			if !errors.Is(err, survey.ErrScoreOutOfRange) {
				t.Errorf("score 11: %v", err)
			}
			if _, err := s.GetResponseByDelivery(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused answer was stored: %v", err)
			}
			if got, _ := s.GetDelivery(ctx, d.ID); got.Status != store.StatusSent {
				t.Errorf("a refused answer moved the delivery to %s", got.Status)
			}
		})

		t.Run("concurrent first answers", func(t *testing.T) {
			d := replyDelivery(t, s, "nps", store.StatusSent, nil)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created int
				moved   int
				ids     = map[string]bool{}
			)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := &store.Response{DeliveryID: d.ID, Score: i}
					c, m, err := s.AnswerDelivery(ctx, r, survey.NPS, answerable)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					ids[r.ID] = true
					if c {
						created++
					}
					if m {
						moved++
					}
				}()
			}
			wg.Wait()
			if created != 1 || moved != 1 || len(ids) != 1 {
				t.Fatalf("created %d, moved %d, ids %v", created, moved, ids)
			}
		})
	})
}

// TestReplyReads: one query gives the delivery, its survey's version and
// the answer so far; a reminder's candidate carries its parent's answer.
func TestReplyReads(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		sv := &store.Survey{Key: "nps", Kind: survey.NPS, ProductName: "Acme"}
		if err := s.CreateSurvey(ctx, sv); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		parent := replyDelivery(t, s, "nps", store.StatusSent, func(d *store.Delivery) { d.CreatedAt = now.Add(-2 * time.Hour) })
		rem := replyDelivery(t, s, "nps", store.StatusSent, func(d *store.Delivery) {
			d.ReminderOf, d.ReminderN, d.CreatedAt = parent.ID, 1, now.Add(-time.Hour)
		})

		rp, err := s.GetReplyByToken(ctx, parent.Token)
		if err != nil || rp.Response != nil || !rp.SurveyFound || !rp.SurveyUpdatedAt.Equal(sv.UpdatedAt) {
			t.Fatalf("before the answer: %+v, %v", rp, err)
		}
		want, err := s.GetDelivery(ctx, parent.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "delivery", rp.Delivery, want)
		if _, err := s.GetReplyByToken(ctx, "no-such-token"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}

		no := false
		r := &store.Response{DeliveryID: parent.ID, Score: 6, Comment: "meh", MayContact: &no}
		if _, _, err := s.AnswerDelivery(ctx, r, survey.NPS, answerable); err != nil {
			t.Fatal(err)
		}
		stored, err := s.GetResponseByDelivery(ctx, parent.ID)
		if err != nil {
			t.Fatal(err)
		}
		rp, err = s.GetReplyByToken(ctx, parent.Token)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "response", rp.Response, stored)
		if rp.Delivery.Status != store.StatusResponded {
			t.Errorf("status %s", rp.Delivery.Status)
		}

		// A survey change shows in the version.
		sv.ProductName = "Acme 2"
		if err := s.UpdateSurvey(ctx, sv); err != nil {
			t.Fatal(err)
		}
		if rp, _ = s.GetReplyByToken(ctx, parent.Token); !rp.SurveyUpdatedAt.Equal(sv.UpdatedAt) {
			t.Errorf("survey version %v, want %v", rp.SurveyUpdatedAt, sv.UpdatedAt)
		}

		list, err := s.ReplyCandidatesTo(ctx, []string{"sms", "whatsapp"}, "+15550100", now.Add(-24*time.Hour), 10)
		if err != nil || len(list) != 2 {
			t.Fatalf("candidates %d, %v", len(list), err)
		}
		if list[0].Delivery.ID != rem.ID || list[1].Delivery.ID != parent.ID {
			t.Fatalf("order: %s, %s", list[0].Delivery.ID, list[1].Delivery.ID)
		}
		for _, c := range list {
			if !c.SurveyFound || !c.SurveyUpdatedAt.Equal(sv.UpdatedAt) {
				t.Errorf("%s: survey %v %v", c.Delivery.ID, c.SurveyFound, c.SurveyUpdatedAt)
			}
			wantEqual(t, "answer of "+c.Delivery.ID, c.Response, stored)
		}
		if list, err := s.ReplyCandidatesTo(ctx, []string{"sms"}, "+15550199", now.Add(-24*time.Hour), 10); err != nil || len(list) != 0 {
			t.Errorf("other number: %d, %v", len(list), err)
		}
	})
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// TestAnswerInbound: a text's record and the answer it carries are one
// write; a message recorded before writes nothing.
func TestAnswerInbound(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.CreateSurvey(ctx, &store.Survey{Key: "nps", Kind: survey.NPS}); err != nil {
			t.Fatal(err)
		}
		d := replyDelivery(t, s, "nps", store.StatusSent, nil)
		msg := func(sid, body, outcome string) *store.InboundMessage {
			return &store.InboundMessage{Provider: "twilio", ProviderMessageID: sid, Channel: "sms", From: d.Address,
				To: "+15550199", Body: body, DeliveryID: d.ID, Outcome: outcome}
		}
		steps := []struct {
			name        string
			msg         *store.InboundMessage
			score       int
			comment     string
			wantErr     error
			wantCreated bool
			wantScore   int
			wantComment string
		}{
			{"score", msg("SM1", "9", "score"), 9, "", nil, true, 9, ""},
			{"retry of the score", msg("SM1", "9", "score"), 9, "", store.ErrInboundSeen, false, 9, ""},
			{"comment", msg("SM2", "great", "comment"), 9, "great", nil, false, 9, "great"},
			{"retry of the comment, changed", msg("SM2", "great", "comment"), 9, "great\ngreat", store.ErrInboundSeen, false, 9, "great"},
			// A bare new score in another band: the comment it kept
			// answered the old band's question, and is dropped.
			{"new score", msg("SM3", "7", "score"), 7, "great", nil, false, 7, ""},
		}
		for _, st := range steps {
			r := &store.Response{DeliveryID: d.ID, Score: st.score, Comment: st.comment}
			created, _, err := s.AnswerInbound(ctx, st.msg, d, r, survey.NPS, answerable)
			if !errors.Is(err, st.wantErr) || (err == nil && created != st.wantCreated) {
				t.Fatalf("%s: created %v, %v", st.name, created, err)
			}
			got, err := s.GetResponseByDelivery(ctx, d.ID)
			if err != nil || got.Score != st.wantScore || got.Comment != st.wantComment || got.Channel != "sms" || got.SurveyKey != "nps" {
				t.Fatalf("%s: stored %+v, %v", st.name, got, err)
			}
		}
		list, err := s.ListInbound(ctx, d.Address, 10)
		if err != nil || len(list) != 3 {
			t.Fatalf("inbound recorded %d, %v", len(list), err)
		}
		for _, m := range list {
			if m.DeliveryID != d.ID || (m.Outcome != "score" && m.Outcome != "comment") {
				t.Errorf("recorded %+v", m)
			}
		}
		if got, _ := s.GetDelivery(ctx, d.ID); got.Status != store.StatusResponded {
			t.Errorf("status %s", got.Status)
		}

		// A delivery gone since it was read: nothing is written, the
		// message is free to be handled again.
		gone := *d
		gone.ID = "gone"
		_, _, err = s.AnswerInbound(ctx, msg("SM4", "5", "score"), &gone, &store.Response{DeliveryID: "gone", Score: 5}, survey.NPS, answerable)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("gone delivery: %v", err)
		}
		if created, err := s.RecordInbound(ctx, msg("SM4", "5", "unmatched")); err != nil || !created {
			t.Fatalf("the message of a failed answer was kept: %v %v", created, err)
		}
	})
}
