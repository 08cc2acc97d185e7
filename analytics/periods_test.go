package analytics

import (
	"testing"
	"time"

	"github.com/npsgate/npsgate/survey"
)

func TestPeriodStartAndLabel(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := time.Date(2026, 3, 15, 23, 30, 0, 0, sh) // a Sunday
	for _, tc := range []struct {
		p     Period
		start time.Time
		label string
	}{
		{Week, time.Date(2026, 3, 9, 0, 0, 0, 0, sh), "2026-W11"},
		{Month, time.Date(2026, 3, 1, 0, 0, 0, 0, sh), "2026-03"},
		{Quarter, time.Date(2026, 1, 1, 0, 0, 0, 0, sh), "2026-Q1"},
	} {
		got := tc.p.Start(at)
		if !got.Equal(tc.start) || got.Location() != sh {
			t.Errorf("%s start of %v = %v, want %v", tc.p, at, got, tc.start)
		}
		if l := tc.p.Label(got); l != tc.label {
			t.Errorf("%s label = %q, want %q", tc.p, l, tc.label)
		}
	}
	// ISO weeks belong to the year of their Thursday.
	if l := Week.Label(Week.Start(time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC))); l != "2026-W53" {
		t.Errorf("the week of 2027-01-01 is %s, want 2026-W53", l)
	}
	if l := Quarter.Label(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); l != "2026-Q4" {
		t.Errorf("November is in %s", l)
	}
}

func TestBounds(t *testing.T) {
	now := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	b, err := Bounds(Month, time.Time{}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 13 || !b[0].Equal(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)) || !b[12].Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("12 months to %v: %v … %v (%d)", now, b[0], b[len(b)-1], len(b))
	}
	// An end on a boundary does not open an empty period after it.
	b, _ = Bounds(Quarter, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), nil)
	if len(b) != 3 {
		t.Errorf("Q1 and Q2: %v", b)
	}
	if _, err := Bounds(Week, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), now, nil); err == nil {
		t.Error("six years of weeks accepted")
	}
	if _, err := Bounds(Week, now, now, nil); err == nil {
		t.Error("an empty range accepted")
	}
	// Weeks across a daylight-saving change are calendar weeks.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	b, err = Bounds(Week, time.Date(2026, 3, 2, 0, 0, 0, 0, ny), time.Date(2026, 3, 16, 0, 0, 0, 0, ny), ny)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 3 || b[1].Hour() != 0 || b[2].Hour() != 0 || b[1].Sub(b[0]) != 167*time.Hour || b[2].Sub(b[1]) != 168*time.Hour {
		t.Errorf("weeks over the DST change: %v", b)
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]Period{"": Month, "week": Week, "month": Month, "quarter": Quarter} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePeriod("day"); err == nil {
		t.Error("day accepted")
	}
}

func TestTrendAndSignificance(t *testing.T) {
	small := survey.Tally{10: 3, 0: 2} // NPS 20, wide margin
	big := survey.Tally{10: 300, 0: 200}
	better := survey.Tally{10: 400, 0: 100}
	pts := Trend(survey.NPS, []string{"a", "b", "c", "d", "e"}, []survey.Tally{small, {}, big, better, {10: 1}})
	if pts[0].Change != nil || pts[1].Change != nil || pts[2].Change != nil {
		t.Errorf("a change next to an empty period: %+v", pts[:3])
	}
	if pts[3].Change == nil || *pts[3].Change != 40 || !pts[3].Significant {
		t.Errorf("+40 on 500 answers each: %+v", pts[3])
	}
	if pts[4].Change == nil || pts[4].Significant {
		t.Errorf("one answer after 500: %+v", pts[4])
	}
	if pts[3].Label != "d" || pts[3].Summary.Score != 60 {
		t.Errorf("point d = %+v", pts[3])
	}
	// CSAT: a change is in percentage points.
	c, m, sig, ok := Compare(survey.Summarize(survey.CSAT, survey.Tally{5: 50, 1: 50}), survey.Summarize(survey.CSAT, survey.Tally{5: 80, 1: 20}))
	if !ok || c != 30 || sig != Significant || m <= 0 || m >= 30 {
		t.Errorf("CSAT 50%% → 80%% on 100 each: change %v ±%v %v", c, m, sig)
	}
}
