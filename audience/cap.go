package audience

import (
	"sync"

	"github.com/npsgate/npsgate/store"
)

// Cap keeps at most N contacts per account and role in one run of a
// campaign (the B2B option "at most N contacts per account per role").
//
// It keeps the first N it is offered, so it is deterministic when the
// caller offers contacts in a stable order: the fan-out feeds contacts in
// external_id order, page by page, from one goroutine. Offer a contact last,
// once everything else known at fan-out has passed (the filter, InSlice,
// the opt-out), so that no slot goes to a contact who will not be surveyed.
//
// Allow is idempotent: a contact already kept is allowed again (a retried
// page gets the same answer), and one refused stays refused. The state is
// in memory only; a fan-out resumed from its cursor after a restart rebuilds
// it by calling Allow with the contacts this run already has deliveries
// for, in the same order, before it goes on.
//
// Memory grows with the number of (account, role) pairs seen and the IDs
// kept, at most N per pair, never with the number of contacts offered. A
// contact with no account is never capped: it is nobody's colleague. An
// empty role is a role of its own.
//
// A Cap is safe for concurrent use, but only one ordered caller makes the
// result deterministic.
type Cap struct {
	n int

	mu   sync.Mutex
	kept map[capKey]*capBucket
}

type capKey struct{ account, role string }

// capBucket holds the IDs kept for one account and role; set indexes them
// once there are enough for a linear scan to be slow.
type capBucket struct {
	ids []string
	set map[string]struct{}
}

// capIndexAt is the bucket size from which lookups use a map.
const capIndexAt = 16

// NewCap returns a cap of n contacts per account and role; n <= 0 means no
// cap (Allow is always true).
func NewCap(n int) *Cap {
	return &Cap{n: n, kept: make(map[capKey]*capBucket)}
}

// Allow reports whether ct is kept, and keeps it if its account and role
// are still under the cap. A nil Cap allows everyone; a nil contact is
// never allowed.
func (c *Cap) Allow(ct *store.Contact) bool {
	if ct == nil {
		return false
	}
	if c == nil || c.n <= 0 || ct.Account == "" {
		return true
	}
	key := capKey{account: ct.Account, role: ct.Role}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.kept[key]
	if b == nil {
		b = &capBucket{}
		c.kept[key] = b
	}
	if b.has(ct.ExternalID) {
		return true
	}
	if len(b.ids) >= c.n {
		return false
	}
	b.add(ct.ExternalID)
	return true
}

func (b *capBucket) has(id string) bool {
	if b.set != nil {
		_, ok := b.set[id]
		return ok
	}
	for _, k := range b.ids {
		if k == id {
			return true
		}
	}
	return false
}

func (b *capBucket) add(id string) {
	b.ids = append(b.ids, id)
	if b.set != nil {
		b.set[id] = struct{}{}
		return
	}
	if len(b.ids) >= capIndexAt {
		b.set = make(map[string]struct{}, len(b.ids))
		for _, k := range b.ids {
			b.set[k] = struct{}{}
		}
	}
}
