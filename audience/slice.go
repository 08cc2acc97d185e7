package audience

import (
	"encoding/binary"
	"hash/fnv"
)

// InSlice reports whether the contact externalID is in run's slice of a
// campaign sampled 1/k per run: it is iff hash(salt, externalID) mod k ==
// run mod k. Every contact is therefore reached exactly once in any k
// consecutive runs, and the k slices are the same size up to chance.
//
// salt is what keeps two campaigns from surveying the same slice together;
// use the campaign ID. k < 1 is taken as 1 (every contact, every run); a
// negative run counts back (run -1 is slice k-1).
//
// The hash is part of the contract, since changing it moves contacts
// between slices mid-cycle: FNV-1a (64-bit) over the salt's length as 8
// big-endian bytes, the salt, and the ID, then the MurmurHash3 64-bit
// finalizer so that the low bits, which mod k reads, are well mixed.
func InSlice(salt, externalID string, run, k int) bool {
	if k <= 1 {
		return true
	}
	r := run % k
	if r < 0 {
		r += k
	}
	return sliceHash(salt, externalID)%uint64(k) == uint64(r)
}

// sliceHash is the hash InSlice reads.
func sliceHash(salt, externalID string) uint64 {
	h := fnv.New64a()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(salt)))
	h.Write(n[:])
	h.Write([]byte(salt))
	h.Write([]byte(externalID))
	x := h.Sum64()
	// fmix64 from MurmurHash3.
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9a63fe53e87
	x ^= x >> 33
	return x
}
