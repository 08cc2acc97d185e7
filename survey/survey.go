// Package survey is the domain of npsgate, with no I/O: the kinds of survey
// and their score ranges, the category of a score, the follow-up question a
// category gets, and the arithmetic of NPS and its margin of error.
package survey

import (
	"errors"
	"fmt"
)

// Kind is the kind of question a survey asks; it fixes the score range.
type Kind string

const (
	// NPS asks "how likely are you to recommend", 0-10.
	NPS Kind = "nps"
	// CSAT asks "how satisfied were you", 1-5.
	CSAT Kind = "csat"
	// CES asks "how easy was it", 1-7.
	CES Kind = "ces"
)

// ErrUnknownKind is returned for a kind this package does not know.
var ErrUnknownKind = errors.New("unknown survey kind")

// ErrScoreOutOfRange is returned for a score outside its kind's range.
var ErrScoreOutOfRange = errors.New("score out of range")

// ParseKind accepts the wire name of a kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case NPS, CSAT, CES:
		return k, nil
	}
	return "", fmt.Errorf("%w: %q (want nps, csat or ces)", ErrUnknownKind, s)
}

// Range is the lowest and highest score of the kind.
func (k Kind) Range() (lo, hi int) {
	switch k {
	case CSAT:
		return 1, 5
	case CES:
		return 1, 7
	default:
		return 0, 10
	}
}

// Scores lists every score of the kind, lowest first, as a page or an email
// shows them.
func (k Kind) Scores() []int {
	lo, hi := k.Range()
	out := make([]int, 0, hi-lo+1)
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

// CheckScore reports whether score is inside the kind's range.
func (k Kind) CheckScore(score int) error {
	lo, hi := k.Range()
	if score < lo || score > hi {
		return fmt.Errorf("%w: %d is not between %d and %d", ErrScoreOutOfRange, score, lo, hi)
	}
	return nil
}

// Category groups scores by what a follow-up should ask and how results count
// them. NPS uses promoter/passive/detractor; CSAT and CES reuse the same
// three buckets (satisfied, neutral, dissatisfied) so alerts and follow-ups
// work the same for every kind.
type Category string

const (
	Promoter  Category = "promoter"
	Passive   Category = "passive"
	Detractor Category = "detractor"
)

// ParseCategory accepts the wire name of a category.
func ParseCategory(s string) (Category, error) {
	switch c := Category(s); c {
	case Promoter, Passive, Detractor:
		return c, nil
	}
	return "", fmt.Errorf("unknown category %q (want promoter, passive or detractor)", s)
}

// CategoryOf returns the category of a score of this kind. The score must be
// in range (see CheckScore).
func (k Kind) CategoryOf(score int) Category {
	switch k {
	case CSAT: // 4-5 satisfied, 3 neutral, 1-2 dissatisfied
		switch {
		case score >= 4:
			return Promoter
		case score == 3:
			return Passive
		}
		return Detractor
	case CES: // 6-7 easy, 5 neutral (effort scales are skewed high), 1-4 hard
		switch {
		case score >= 6:
			return Promoter
		case score == 5:
			return Passive
		}
		return Detractor
	}
	switch {
	case score >= 9:
		return Promoter
	case score >= 7:
		return Passive
	}
	return Detractor
}
