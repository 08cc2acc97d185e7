package channels_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/npsgate/npsgate/channels"
)

// Pigeon is a made-up provider: a channel is a type with Name and Send.
// Compile-time check, as every provider declares it:
var _ channels.Channel = (*Pigeon)(nil)

type Pigeon struct{ loft []string }

func (p *Pigeon) Name() string { return "pigeon" }

func (p *Pigeon) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, err
	}
	// Provider faults are returned as *channels.Error with a Kind, so the
	// dispatcher knows whether to retry, wait or give up.
	if !strings.HasPrefix(m.To, "loft:") {
		return channels.Result{}, &channels.Error{
			Channel: p.Name(), Kind: channels.Permanent, Code: "NO_LOFT", Message: "no such loft " + m.To,
		}
	}
	p.loft = append(p.loft, m.Text)
	return channels.Result{ProviderID: fmt.Sprintf("pigeon-%d", len(p.loft))}, nil
}

// Adding a channel: implement channels.Channel and register it once at
// start-up; the dispatcher finds it by the name on the delivery.
func Example() {
	reg := channels.NewRegistry()
	if err := reg.Register(&Pigeon{}); err != nil {
		panic(err)
	}
	// A second channel of the same name is refused, not swapped in.
	err := reg.Register(&Pigeon{})
	fmt.Println(errors.Is(err, channels.ErrDuplicate))

	ch, _ := reg.Get("pigeon")
	res, err := ch.Send(context.Background(), &channels.Message{To: "loft:north", Text: "How likely are you to recommend us?"})
	fmt.Println(res.ProviderID, err)

	_, err = ch.Send(context.Background(), &channels.Message{To: "south", Text: "?"})
	fmt.Println(channels.KindOf(err), err)

	_, err = reg.Get("fax")
	fmt.Println(errors.Is(err, channels.ErrUnknown))
	// Output:
	// true
	// pigeon-1 <nil>
	// permanent pigeon: permanent NO_LOFT: no such loft south
	// true
}
