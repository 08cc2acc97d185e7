package audience

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/npsgate/npsgate/store"
)

func ct(id, account, role string) *store.Contact {
	return &store.Contact{ExternalID: id, Account: account, Role: role}
}

func TestCapKeepsFirstNPerAccountAndRole(t *testing.T) {
	c := NewCap(2)
	for _, step := range []struct {
		c    *store.Contact
		want bool
	}{
		{ct("a1", "acme", "decision_maker"), true},
		{ct("a2", "acme", "decision_maker"), true},
		{ct("a3", "acme", "decision_maker"), false},
		{ct("a4", "acme", "operator"), true},
		{ct("a5", "acme", ""), true},
		{ct("a6", "acme", ""), true},
		{ct("a7", "acme", ""), false},
		{ct("b1", "globex", "decision_maker"), true},
		{ct("b2", "globex", "decision_maker"), true},
		{ct("b3", "globex", "decision_maker"), false},
		// Case matters: these are another account and another role.
		{ct("b4", "Globex", "decision_maker"), true},
		{ct("b5", "globex", "Decision_Maker"), true},
		// No account: never capped.
		{ct("x1", "", "decision_maker"), true},
		{ct("x2", "", "decision_maker"), true},
		{ct("x3", "", "decision_maker"), true},
		// Asked again (a retried page): the same answers.
		{ct("a1", "acme", "decision_maker"), true},
		{ct("a2", "acme", "decision_maker"), true},
		{ct("a3", "acme", "decision_maker"), false},
		{nil, false},
	} {
		if got := c.Allow(step.c); got != step.want {
			t.Errorf("Allow(%+v) = %v, want %v", step.c, got, step.want)
		}
	}
	if got := len(c.kept); got != 6 {
		t.Errorf("%d buckets, want 6 (acme×3 roles, globex, Globex, globex/Decision_Maker)", got)
	}
}

func TestCapNoLimit(t *testing.T) {
	for _, c := range []*Cap{NewCap(0), NewCap(-1), nil} {
		for i := range 10 {
			if !c.Allow(ct(fmt.Sprint(i), "acme", "operator")) {
				t.Fatalf("cap %v refused contact %d", c, i)
			}
		}
	}
}

// TestCapDeterministicAcrossPages feeds the same contacts in pages of
// different sizes: the same contacts are kept, and memory holds one bucket
// per account and role, not one entry per contact.
func TestCapDeterministicAcrossPages(t *testing.T) {
	const accounts, roles, perPair = 50, 3, 20
	var all []*store.Contact
	for a := range accounts {
		for r := range roles {
			for i := range perPair {
				all = append(all, ct(fmt.Sprintf("a%02d-r%d-%03d", a, r, i), fmt.Sprintf("acct-%02d", a), fmt.Sprintf("role-%d", r)))
			}
		}
	}
	run := func(pageSize int) (map[string]bool, *Cap) {
		c := NewCap(3)
		kept := map[string]bool{}
		for start := 0; start < len(all); start += pageSize {
			for _, x := range all[start:min(start+pageSize, len(all))] {
				if c.Allow(x) {
					kept[x.ExternalID] = true
				}
			}
		}
		return kept, c
	}
	want, c := run(len(all))
	if len(want) != accounts*roles*3 {
		t.Fatalf("kept %d, want %d", len(want), accounts*roles*3)
	}
	for id := range want {
		var a, r, i int
		fmt.Sscanf(id, "a%02d-r%d-%03d", &a, &r, &i)
		if i >= 3 {
			t.Errorf("kept %s, which is not among the first 3 of its account and role", id)
		}
	}
	if len(c.kept) != accounts*roles {
		t.Errorf("%d buckets for %d accounts × %d roles", len(c.kept), accounts, roles)
	}
	for _, size := range []int{1, 7, 100} {
		got, _ := run(size)
		if len(got) != len(want) {
			t.Fatalf("pages of %d keep %d, pages of all keep %d", size, len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("pages of %d do not keep %s", size, id)
			}
		}
	}
}

// TestCapLargeN crosses the size at which a bucket indexes its IDs.
func TestCapLargeN(t *testing.T) {
	const n = capIndexAt + 9
	c := NewCap(n)
	for round := range 2 {
		for i := range n + 10 {
			want := i < n
			if got := c.Allow(ct(fmt.Sprintf("id-%03d", i), "acme", "operator")); got != want {
				t.Fatalf("round %d: Allow(id-%03d) = %v, want %v", round, i, got, want)
			}
		}
	}
}

func TestCapConcurrent(t *testing.T) {
	c := NewCap(5)
	var kept atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if c.Allow(ct(fmt.Sprintf("g%d-%d", g, i), fmt.Sprintf("acct-%d", i%10), "operator")) {
					kept.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := kept.Load(); got != 10*5 {
		t.Fatalf("kept %d, want 50 (10 accounts × 5)", got)
	}
}
