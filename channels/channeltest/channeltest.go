// Package channeltest is the suite every channel passes: it sends through
// the channel to a fake provider and checks what arrived, how provider
// failures are classified and that cancellation is honoured. A provider
// package runs it from its tests with a Harness for its fake.
package channeltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npsgate/npsgate/channels"
)

// Mode is how the fake provider treats the messages it gets.
type Mode int

const (
	// Accept takes every message.
	Accept Mode = iota
	// FailTemporary refuses with a transient fault (SMTP 451, HTTP 503).
	FailTemporary
	// FailPermanent refuses for good (SMTP 550, an invalid number).
	FailPermanent
	// Hang never answers.
	Hang
)

func (m Mode) String() string {
	return [...]string{"accept", "fail-temporary", "fail-permanent", "hang"}[m]
}

// Received is what the provider got, reduced to what every channel carries.
type Received struct {
	To      string
	Subject string
	// Body is everything the recipient can read: for email the text part
	// and the HTML part together.
	Body string
}

// Provider is the fake provider behind the channel under test.
type Provider interface {
	// Set makes the provider behave so for every message from now on. It
	// returns false when the provider cannot (an outbox has no permanent
	// failure); the check that needs it is then skipped.
	Set(Mode) bool
	// Received lists what the provider accepted, in any order.
	Received() []Received
}

// Harness connects the suite to one channel implementation.
type Harness struct {
	// New starts a fresh provider for one check and returns the channel
	// under test pointed at it. Cleanup belongs in t.Cleanup; a channel that
	// is a channels.Closer is closed by the suite.
	New func(t *testing.T) (channels.Channel, Provider)
	// Message returns a valid message for this channel, different for each
	// i (recipient and text), so concurrent sends can be told apart. Nil
	// uses EmailMessage.
	Message func(i int) *channels.Message
	// Subject says the provider receives the subject (email does, SMS does
	// not).
	Subject bool
	// Concurrency is how many sends the concurrency check makes at once;
	// default 16.
	Concurrency int
}

// EmailMessage is a message for channels addressed by email address.
func EmailMessage(i int) *channels.Message {
	return &channels.Message{
		DeliveryID: fmt.Sprintf("dlv-%04d", i),
		To:         fmt.Sprintf("contact%d@example.com", i),
		Locale:     "en",
		Subject:    fmt.Sprintf("How did we do? (%d)", i),
		Text:       fmt.Sprintf("On a scale of 0 to 10, how likely are you to recommend us? Reply here: https://nps.example.com/r/tok%d", i),
		HTML:       fmt.Sprintf(`<p>On a scale of 0 to 10, how likely are you to recommend us?</p><p><a href="https://nps.example.com/r/tok%d">Answer</a></p>`, i),
		ReplyURL:   fmt.Sprintf("https://nps.example.com/r/tok%d", i),
	}
}

// prompt is how long a cancelled Send may take to return.
const prompt = 2 * time.Second

// Exercise runs every check against the channel h builds.
func Exercise(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("channeltest: Harness.New is nil")
	}
	if h.Message == nil {
		h.Message = EmailMessage
	}
	if h.Concurrency == 0 {
		h.Concurrency = 16
	}
	start := func(t *testing.T) (channels.Channel, Provider) {
		t.Helper()
		ch, p := h.New(t)
		if cl, ok := ch.(channels.Closer); ok {
			t.Cleanup(func() { _ = cl.Close() })
		}
		return ch, p
	}
	set := func(t *testing.T, p Provider, m Mode) {
		t.Helper()
		if !p.Set(m) {
			t.Skipf("provider cannot %s", m)
		}
	}

	t.Run("Name", func(t *testing.T) {
		ch, _ := start(t)
		if ch.Name() == "" {
			t.Fatal("Name() is empty")
		}
		r := channels.NewRegistry()
		if err := r.Register(ch); err != nil {
			t.Fatalf("Register: %v", err)
		}
	})

	t.Run("SendArrives", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, Accept)
		m := h.Message(1)
		res, err := ch.Send(context.Background(), m)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if res.ProviderID == "" {
			t.Error("Result.ProviderID is empty; the dispatcher keeps it for status callbacks and support")
		}
		got := p.Received()
		if len(got) != 1 {
			t.Fatalf("provider received %d messages, want 1", len(got))
		}
		checkContent(t, h, m, got[0])
	})

	t.Run("TemporaryFailureIsRetryable", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, FailTemporary)
		_, err := ch.Send(context.Background(), h.Message(2))
		checkKind(t, ch, err, channels.Retryable)

		// A refusal must not leave the channel broken for the next message.
		set(t, p, Accept)
		if _, err := ch.Send(context.Background(), h.Message(3)); err != nil {
			t.Fatalf("Send after a temporary failure: %v", err)
		}
	})

	t.Run("PermanentFailureIsPermanent", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, FailPermanent)
		_, err := ch.Send(context.Background(), h.Message(4))
		checkKind(t, ch, err, channels.Permanent)

		set(t, p, Accept)
		if _, err := ch.Send(context.Background(), h.Message(5)); err != nil {
			t.Fatalf("Send after a permanent failure: %v", err)
		}
	})

	t.Run("CancelWhileProviderHangs", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, Hang)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		begin := time.Now()
		_, err := ch.Send(ctx, h.Message(6))
		took := time.Since(begin)
		if err == nil {
			t.Fatal("Send to a hanging provider returned no error after cancellation")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %q does not wrap context.Canceled", err)
		}
		if took > 100*time.Millisecond+prompt {
			t.Errorf("Send returned %s after cancellation, want within %s", took-100*time.Millisecond, prompt)
		}

		// Giving up on one message must not poison the channel.
		set(t, p, Accept)
		if _, err := ch.Send(context.Background(), h.Message(7)); err != nil {
			t.Fatalf("Send after a cancelled one: %v", err)
		}
	})

	t.Run("CancelledBeforeSend", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, Accept)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		begin := time.Now()
		_, err := ch.Send(ctx, h.Message(8))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send with a cancelled context: err = %v, want context.Canceled", err)
		}
		if took := time.Since(begin); took > prompt {
			t.Errorf("took %s", took)
		}
	})

	t.Run("ConcurrentSendsAllArrive", func(t *testing.T) {
		ch, p := start(t)
		set(t, p, Accept)
		n := h.Concurrency
		msgs := make([]*channels.Message, n)
		for i := range msgs {
			msgs[i] = h.Message(100 + i)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = ch.Send(context.Background(), msgs[i])
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}
		got := p.Received()
		if len(got) != n {
			t.Fatalf("provider received %d messages, want %d", len(got), n)
		}
		for _, m := range msgs {
			if !containsMessage(got, m) {
				t.Errorf("message to %s never arrived intact", m.To)
			}
		}
	})
}

func checkContent(t *testing.T, h Harness, m *channels.Message, r Received) {
	t.Helper()
	if r.To != m.To {
		t.Errorf("To = %q, want %q", r.To, m.To)
	}
	if h.Subject && r.Subject != m.Subject {
		t.Errorf("Subject = %q, want %q", r.Subject, m.Subject)
	}
	if !strings.Contains(r.Body, m.Text) {
		t.Errorf("body %q does not contain the text %q", r.Body, m.Text)
	}
}

func containsMessage(got []Received, m *channels.Message) bool {
	for _, r := range got {
		if r.To == m.To && strings.Contains(r.Body, m.Text) {
			return true
		}
	}
	return false
}

func checkKind(t *testing.T, ch channels.Channel, err error, want channels.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("Send succeeded, want a %s error", want)
	}
	if got := channels.KindOf(err); got != want {
		t.Errorf("KindOf(%q) = %s, want %s", err, got, want)
	}
	var pe *channels.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %q is not a *channels.Error; the dispatcher cannot classify it", err)
	}
	if pe.Channel != ch.Name() {
		t.Errorf("Error.Channel = %q, want %q", pe.Channel, ch.Name())
	}
	if pe.Message == "" && pe.Err == nil {
		t.Error("Error has neither the provider's words nor a cause; the failed delivery would say nothing")
	}
}
