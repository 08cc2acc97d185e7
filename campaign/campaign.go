// Package campaign is the pure part of relationship NPS: when a campaign
// runs (once, by cron, monthly, quarterly, in a named time zone) and when a
// contact may be messaged (a weekly send window in the contact's own time
// zone). No I/O.
package campaign

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/npsgate/npsgate/internal/zone"
)

// Schedule says when a campaign runs.
type Schedule struct {
	// Kind is "once", "cron", "monthly" or "quarterly".
	Kind string `json:"kind"`
	// At is the time of a "once" campaign.
	At *time.Time `json:"at,omitempty"`
	// Cron is a five-field cron expression for "cron"; the presets use
	// "0 9 1 * *" (monthly) and "0 9 1 1,4,7,10 *" (quarterly).
	Cron string `json:"cron,omitempty"`
	// TimeZone is the IANA zone the cron expression is read in. Default
	// UTC.
	TimeZone string `json:"time_zone,omitempty"`
}

// Presets are the named schedules, at 09:00 on the first day.
var Presets = map[string]string{
	"monthly":   "0 9 1 * *",
	"quarterly": "0 9 1 1,4,7,10 *",
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid")

// Validate checks the schedule; the error names the field.
func (s Schedule) Validate() error {
	if s.TimeZone != "" {
		if _, err := zone.Load(s.TimeZone); err != nil {
			return fmt.Errorf("%w: time_zone: %q is not an IANA time zone", ErrInvalid, s.TimeZone)
		}
	}
	switch s.Kind {
	case "once":
		if s.At == nil {
			return fmt.Errorf("%w: at: a once schedule needs at", ErrInvalid)
		}
	case "cron":
		if _, err := parser.Parse(s.Cron); err != nil {
			return fmt.Errorf("%w: cron: %v", ErrInvalid, err)
		}
	case "monthly", "quarterly":
	default:
		return fmt.Errorf("%w: kind: want once, cron, monthly or quarterly, got %q", ErrInvalid, s.Kind)
	}
	return nil
}

// Next returns the first run strictly after after, or false when there is
// none (a once schedule that has passed).
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	if s.Kind == "once" {
		if s.At != nil && s.At.After(after) {
			return s.At.UTC(), true
		}
		return time.Time{}, false
	}
	expr := s.Cron
	if p, ok := Presets[s.Kind]; ok {
		expr = p
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return time.Time{}, false
	}
	loc := time.UTC
	if s.TimeZone != "" {
		if l, err := zone.Load(s.TimeZone); err == nil {
			loc = l
		}
	}
	// robfig/cron computes in the location of the time it is given, which
	// is how "09:00 in Asia/Shanghai" stays 09:00 there across DST. It
	// matches wall clocks, so on the night the clocks go back it matches
	// the repeated hour twice: "30 1 * * *" in America/New_York fires at
	// 01:30 EDT and again at 01:30 EST an hour later. A campaign must not
	// run twice for one local date and time, so the repeat is skipped.
	// (On the night they go forward a time in the skipped hour does not
	// exist and robfig/cron skips that day: "30 2 * * *" has no run on
	// that date.)
	next := after.In(loc)
	// A repeated hour holds at most 60 matches of a cron (one a minute),
	// a repeated two hours 120; a day's minutes bound the loop anyway.
	for i := 0; i < 24*60; i++ {
		next = sched.Next(next)
		if next.IsZero() {
			return time.Time{}, false
		}
		if !repeatedWallClock(next, loc) {
			return next.UTC(), true
		}
	}
	return time.Time{}, false
}

// repeatedWallClock reports whether the wall clock in loc read what it
// reads at t already, shortly before: t is in the hour (or half hour, in
// a few zones) that a fall-back transition repeats.
func repeatedWallClock(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	_, off := l.Zone()
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-back).In(loc)
		if _, eoff := e.Zone(); eoff == off {
			continue // no transition between: the wall clock moved by back
		}
		if e.Year() == l.Year() && e.YearDay() == l.YearDay() && e.Hour() == l.Hour() && e.Minute() == l.Minute() && e.Second() == l.Second() {
			return true
		}
	}
	return false
}

// Window is a weekly send window, read in each contact's time zone: no
// survey wakes anyone.
type Window struct {
	// Days are ISO weekdays, 1 = Monday … 7 = Sunday; empty = every day.
	Days []int `json:"days,omitempty"`
	// Start and End are "HH:MM", End exclusive; both empty = all day.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Validate checks the window.
func (w Window) Validate() error {
	for _, d := range w.Days {
		if d < 1 || d > 7 {
			return fmt.Errorf("%w: days: %d is not a weekday 1 (Monday) to 7 (Sunday)", ErrInvalid, d)
		}
	}
	if (w.Start == "") != (w.End == "") {
		return fmt.Errorf("%w: start and end go together", ErrInvalid)
	}
	if w.Start == "" {
		return nil
	}
	s, err1 := minutes(w.Start)
	e, err2 := minutes(w.End)
	switch {
	case err1 != nil:
		return fmt.Errorf("%w: start: %v", ErrInvalid, err1)
	case err2 != nil:
		return fmt.Errorf("%w: end: %v", ErrInvalid, err2)
	case e <= s:
		return fmt.Errorf("%w: end must be after start (windows across midnight are not supported)", ErrInvalid)
	}
	return nil
}

// IsZero reports whether the window is always open.
func (w Window) IsZero() bool { return len(w.Days) == 0 && w.Start == "" }

func minutes(hhmm string) (int, error) {
	h, m, ok := strings.Cut(hhmm, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time like 09:00", hhmm)
	}
	return hh*60 + mm, nil
}

// Next returns t if the window is open at t in loc, else the next opening.
// The result is in UTC.
func (w Window) Next(t time.Time, loc *time.Location) time.Time {
	if w.IsZero() {
		return t.UTC()
	}
	if loc == nil {
		loc = time.UTC
	}
	start, end := 0, 24*60
	if w.Start != "" {
		start, _ = minutes(w.Start)
		end, _ = minutes(w.End)
	}
	local := t.In(loc)
	for i := 0; i < 8; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, loc)
		if !w.dayAllowed(day.Weekday()) {
			continue
		}
		open := time.Date(day.Year(), day.Month(), day.Day(), start/60, start%60, 0, 0, loc)
		close := time.Date(day.Year(), day.Month(), day.Day(), end/60, end%60, 0, 0, loc)
		switch {
		case !local.Before(open) && local.Before(close):
			return t.UTC()
		case local.Before(open):
			return open.UTC()
		}
	}
	return t.UTC() // unreachable for a valid window
}

// Open reports whether the window is open at t in loc.
func (w Window) Open(t time.Time, loc *time.Location) bool { return w.Next(t, loc).Equal(t.UTC()) }

func (w Window) dayAllowed(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	iso := int(d)
	if iso == 0 {
		iso = 7
	}
	for _, x := range w.Days {
		if x == iso {
			return true
		}
	}
	return false
}

// Drip spreads a run over Days days (weekdays only with Weekdays), each
// contact at a moment inside Start-End in their own time zone, at most
// DailyCap a day when set (the run then takes as many more days as it
// needs). A day is the contact's own local date.
type Drip struct {
	Days     int    `json:"days,omitempty"`
	Weekdays bool   `json:"weekdays,omitempty"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	DailyCap int    `json:"daily_cap,omitempty"`
}

// On reports whether the run is spread at all.
func (d Drip) On() bool { return d.Days > 1 || d.DailyCap > 0 }

// Validate checks the drip.
func (d Drip) Validate() error {
	if !d.On() {
		return nil
	}
	if d.Days < 0 || d.Days > 366 {
		return fmt.Errorf("%w: days: from 1 to 366", ErrInvalid)
	}
	if d.DailyCap < 0 {
		return fmt.Errorf("%w: daily_cap: must not be negative", ErrInvalid)
	}
	if d.Start == "" && d.End == "" {
		return nil
	}
	return Window{Start: d.Start, End: d.End}.Validate()
}

// SendAt is when the i-th contact of a run (0-based, in run order) with
// the given key is surveyed, the run starting at start: on its day of the
// drip (by index under a daily cap, else spread by the key's hash), at a
// minute of the day's window chosen by the hash, in loc.
func (d Drip) SendAt(start time.Time, i int, key string, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	h := fnv32(key)
	day := 0
	switch {
	case d.DailyCap > 0 && d.Days > 1:
		// Dealt round the days first, so the run is spread over all of
		// them; the cap is a ceiling, not a pace. Only contacts beyond
		// Days×DailyCap go on, DailyCap a day, past the last day.
		if i < d.Days*d.DailyCap {
			day = i % d.Days
		} else {
			day = i / d.DailyCap
		}
	case d.DailyCap > 0:
		day = i / d.DailyCap
	case d.Days > 1:
		day = int(h % uint32(d.Days))
	}
	from, to := 0, 24*60
	if d.Start != "" {
		from, _ = minutes(d.Start)
		to, _ = minutes(d.End)
	}
	minute := from + int((h>>8)%uint32(to-from))
	local := start.In(loc)
	date := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	// The first day of the drip is the first eligible day whose window
	// has not closed when the run starts.
	for !d.eligible(date) || !time.Date(date.Year(), date.Month(), date.Day(), to/60, to%60, 0, 0, loc).After(start) {
		date = date.AddDate(0, 0, 1)
	}
	for n := 0; n < day; {
		date = date.AddDate(0, 0, 1)
		if d.eligible(date) {
			n++
		}
	}
	at := time.Date(date.Year(), date.Month(), date.Day(), minute/60, minute%60, int(h%60), 0, loc)
	if at.Before(start) {
		at = start // inside today's window, just later than this contact's minute
	}
	return at.UTC()
}

func (d Drip) eligible(date time.Time) bool {
	return !d.Weekdays || (date.Weekday() != time.Saturday && date.Weekday() != time.Sunday)
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
