package channels_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/npsgate/npsgate/channels"
)

type fake struct {
	name   string
	closed bool
	err    error
}

func (f *fake) Name() string { return f.name }
func (f *fake) Send(context.Context, *channels.Message) (channels.Result, error) {
	return channels.Result{ProviderID: f.name + "-1"}, nil
}
func (f *fake) Close() error { f.closed = true; return f.err }

// plain holds nothing to close.
type plain struct{ fake }

func (p *plain) Close() {} // not channels.Closer: wrong signature on purpose

func TestRegistry(t *testing.T) {
	r := channels.NewRegistry()
	email, sms := &fake{name: "email"}, &fake{name: "sms", err: errors.New("boom")}
	for _, c := range []channels.Channel{sms, email, &plain{fake{name: "chat"}}} {
		if err := r.Register(c); err != nil {
			t.Fatalf("Register %s: %v", c.Name(), err)
		}
	}

	err := r.Register(&fake{name: "email"})
	if !errors.Is(err, channels.ErrDuplicate) {
		t.Errorf("second email: %v, want ErrDuplicate", err)
	}
	if got, _ := r.Get("email"); got != email {
		t.Error("a duplicate replaced the first channel")
	}

	if _, err := r.Get("fax"); !errors.Is(err, channels.ErrUnknown) {
		t.Errorf("Get(fax): %v, want ErrUnknown", err)
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"chat", "email", "sms"}) {
		t.Errorf("Names %v", got)
	}

	if err := r.Close(); err == nil || err.Error() != "boom" {
		t.Errorf("Close: %v, want boom", err)
	}
	if !email.closed || !sms.closed {
		t.Error("Close skipped a Closer")
	}
}

func TestKindOf(t *testing.T) {
	perm := &channels.Error{Channel: "sms", Kind: channels.Permanent, Code: "21211", Message: "invalid number"}
	for _, tc := range []struct {
		err  error
		want channels.ErrorKind
	}{
		{perm, channels.Permanent},
		{fmt.Errorf("send: %w", perm), channels.Permanent},
		{&channels.Error{Kind: channels.RateLimited, RetryAfter: time.Second}, channels.RateLimited},
		{&channels.Error{Kind: channels.OptedOut}, channels.OptedOut},
		{context.Canceled, channels.Retryable},
		{errors.New("bug"), channels.Retryable},
	} {
		if got := channels.KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if got := perm.Error(); got != "sms: permanent 21211: invalid number" {
		t.Errorf("Error() = %q", got)
	}
	cause := errors.New("dial tcp: refused")
	wrapped := &channels.Error{Channel: "email", Kind: channels.Retryable, Err: cause}
	if !errors.Is(wrapped, cause) || wrapped.Error() != "email: retryable: dial tcp: refused" {
		t.Errorf("wrapped: %q", wrapped.Error())
	}
}
