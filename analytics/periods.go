package analytics

import (
	"fmt"
	"time"
)

// Period is the length of one step of a trend.
type Period string

const (
	Week    Period = "week" // ISO weeks, Monday to Sunday
	Month   Period = "month"
	Quarter Period = "quarter"
)

// ParsePeriod accepts the wire name of a period; "" is Month.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case Week, Month, Quarter:
		return p, nil
	case "":
		return Month, nil
	}
	return "", fmt.Errorf("unknown period %q (want week, month or quarter)", s)
}

// DefaultCount is how many periods a trend shows when no start is given:
// about a quarter of weeks, a year of months, two years of quarters.
func (p Period) DefaultCount() int {
	switch p {
	case Week:
		return 13
	case Quarter:
		return 8
	}
	return 12
}

// MaxCount bounds the periods of one trend, so that a request for ten
// years of weeks is refused rather than computed.
const MaxCount = 160

// Start returns the start of the period that holds t, at midnight in t's
// location.
func (p Period) Start(t time.Time) time.Time {
	y, m, d := t.Date()
	loc := t.Location()
	switch p {
	case Week:
		// Monday is 0.
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case Quarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}

// Next returns the start of the period after the one starting at start.
// Dates are added in the calendar, so a period across a daylight-saving
// change is 23 or 25 hours longer or shorter, as it is on the wall clock.
func (p Period) Next(start time.Time) time.Time {
	switch p {
	case Week:
		return start.AddDate(0, 0, 7)
	case Quarter:
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(0, 1, 0)
}

// Label names the period starting at start: 2026-W11, 2026-03, 2026-Q1.
func (p Period) Label(start time.Time) string {
	switch p {
	case Week:
		y, w := start.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Quarter:
		return fmt.Sprintf("%d-Q%d", start.Year(), (int(start.Month())-1)/3+1)
	}
	return start.Format("2006-01")
}

// Bounds returns the boundaries of the periods that cover [from, to), in
// loc: the first is the start of the period holding from, the last the end
// of the period holding the instant before to. n boundaries make n-1
// periods. A zero from means the DefaultCount periods ending with the one
// that holds to. An error says when from is not before to or when there
// would be more than MaxCount periods.
func Bounds(p Period, from, to time.Time, loc *time.Location) ([]time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if to.IsZero() {
		return nil, fmt.Errorf("analytics: trend needs an end")
	}
	last := p.Start(to.Add(-time.Nanosecond).In(loc))
	var first time.Time
	if from.IsZero() {
		first = last
		for range p.DefaultCount() - 1 {
			first = p.previous(first)
		}
	} else {
		if !from.Before(to) {
			return nil, fmt.Errorf("analytics: the start of a trend must be before its end")
		}
		first = p.Start(from.In(loc))
	}
	out := []time.Time{first}
	for t := first; !t.After(last); {
		t = p.Next(t)
		out = append(out, t)
		if len(out) > MaxCount+1 {
			return nil, fmt.Errorf("analytics: more than %d %ss; choose a longer period or a shorter range", MaxCount, p)
		}
	}
	return out, nil
}

// previous returns the start of the period before the one starting at
// start.
func (p Period) previous(start time.Time) time.Time {
	switch p {
	case Week:
		return start.AddDate(0, 0, -7)
	case Quarter:
		return start.AddDate(0, -3, 0)
	}
	return start.AddDate(0, -1, 0)
}
