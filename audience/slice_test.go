package audience

import (
	"fmt"
	"testing"
)

// TestInSliceExactlyOnceAndBalanced: over 10,000 IDs and k = 4, each ID is
// in exactly one of runs 0..3, and each slice is within ±5% of 2,500.
func TestInSliceExactlyOnceAndBalanced(t *testing.T) {
	const n, k = 10000, 4
	for _, salt := range []string{"campaign-42", "01J9ZQ3V8YH6T2K4M5N7P8R9S0"} {
		sizes := make([]int, k)
		for i := range n {
			id := fmt.Sprintf("contact-%05d", i)
			in := 0
			for run := range k {
				if InSlice(salt, id, run, k) {
					in++
					sizes[run]++
				}
			}
			if in != 1 {
				t.Fatalf("salt %q: %s is in %d of runs 0..%d", salt, id, in, k-1)
			}
		}
		for run, size := range sizes {
			if size < n/k*95/100 || size > n/k*105/100 {
				t.Errorf("salt %q: run %d has %d contacts, want 2500 ± 5%% (sizes %v)", salt, run, size, sizes)
			}
		}
	}
}

func TestInSliceCycles(t *testing.T) {
	for i := range 1000 {
		id := fmt.Sprintf("c%d", i)
		for _, k := range []int{2, 3, 7, 12} {
			hits := 0
			for run := 1; run <= k; run++ { // any k consecutive runs
				if InSlice("s", id, run, k) {
					hits++
				}
				if InSlice("s", id, run, k) != InSlice("s", id, run+k, k) ||
					InSlice("s", id, run, k) != InSlice("s", id, run-3*k, k) {
					t.Fatalf("%s: run %d and run %d±k differ for k=%d", id, run, run, k)
				}
			}
			if hits != 1 {
				t.Fatalf("%s is in %d of %d consecutive runs", id, hits, k)
			}
		}
	}
}

func TestInSliceNoSampling(t *testing.T) {
	for _, k := range []int{1, 0, -3} {
		for run := -2; run < 3; run++ {
			if !InSlice("s", "c1", run, k) {
				t.Fatalf("k=%d, run %d: a contact is left out", k, run)
			}
		}
	}
}

func TestInSliceSaltMatters(t *testing.T) {
	same := 0
	for i := range 1000 {
		id := fmt.Sprintf("c%d", i)
		if InSlice("campaign-a", id, 0, 2) == InSlice("campaign-b", id, 0, 2) {
			same++
		}
	}
	if same < 400 || same > 600 {
		t.Fatalf("two salts agree on %d of 1000 contacts; want about half", same)
	}
	// The salt's length is hashed, so moving bytes between salt and ID moves
	// the contact.
	if sliceHash("ab", "c") == sliceHash("a", "bc") {
		t.Fatal(`("ab", "c") and ("a", "bc") hash the same`)
	}
}

// TestSliceHashIsStable pins the hash: changing it would move contacts
// between slices in the middle of a campaign's cycle. The values were
// checked against an independent implementation of the documented
// algorithm.
func TestSliceHashIsStable(t *testing.T) {
	for _, tc := range []struct {
		salt, id string
		want     uint64
	}{
		{"", "", 0x13453cdba2240838},
		{"campaign-42", "contact-00001", 0x434a6dcc1b60cfef},
		{"01J9ZQ3V8YH6T2K4M5N7P8R9S0", "c1", 0x8b36701496808811},
	} {
		if got := sliceHash(tc.salt, tc.id); got != tc.want {
			t.Errorf("sliceHash(%q, %q) = %#x, want %#x", tc.salt, tc.id, got, tc.want)
		}
	}
}

func BenchmarkInSlice(b *testing.B) {
	for b.Loop() {
		InSlice("01J9ZQ3V8YH6T2K4M5N7P8R9S0", "contact-00001", 3, 4)
	}
}
