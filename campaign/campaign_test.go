package campaign

import (
	"fmt"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestQuarterlyInTimeZone(t *testing.T) {
	s := Schedule{Kind: "quarterly", TimeZone: "Asia/Shanghai"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	sh := mustLoc(t, "Asia/Shanghai")
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var got []string
	for i := 0; i < 5; i++ {
		next, ok := s.Next(at)
		if !ok {
			t.Fatal("no next run")
		}
		got = append(got, next.In(sh).Format("2006-01-02 15:04 MST"))
		at = next
	}
	want := []string{"2027-01-01 09:00 CST", "2027-04-01 09:00 CST", "2027-07-01 09:00 CST", "2027-10-01 09:00 CST", "2028-01-01 09:00 CST"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("run %d at %s, want %s (all: %v)", i, got[i], want[i], got)
		}
	}
}

func TestMonthlyAcrossDST(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	s := Schedule{Kind: "monthly", TimeZone: "America/New_York"}
	next, _ := s.Next(time.Date(2027, 2, 15, 0, 0, 0, 0, time.UTC))
	if l := next.In(ny); l.Hour() != 9 || l.Day() != 1 || l.Month() != 3 {
		t.Fatalf("March run at %v", l)
	}
	next, _ = s.Next(next)
	if l := next.In(ny); l.Hour() != 9 || l.Month() != 4 || next.Sub(time.Date(2027, 4, 1, 13, 0, 0, 0, time.UTC)) != 0 {
		t.Fatalf("April run (after DST) at %v / %v", l, next)
	}
}

func TestScheduleValidateAndOnce(t *testing.T) {
	at := time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	once := Schedule{Kind: "once", At: &at}
	if n, ok := once.Next(at.Add(-time.Hour)); !ok || !n.Equal(at) {
		t.Fatalf("once: %v %v", n, ok)
	}
	if _, ok := once.Next(at); ok {
		t.Fatal("a once schedule runs once")
	}
	for _, bad := range []Schedule{{Kind: "weekly"}, {Kind: "cron", Cron: "every day"}, {Kind: "once"}, {Kind: "monthly", TimeZone: "Mars/Base"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if (Schedule{Kind: "cron", Cron: "30 8 * * 1-5", TimeZone: "Europe/Berlin"}).Validate() != nil {
		t.Fatal("a good cron was refused")
	}
}

func TestWindow(t *testing.T) {
	w := Window{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "18:00"}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	sh := mustLoc(t, "Asia/Shanghai")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name string
		at   time.Time
		loc  *time.Location
		want time.Time
	}{
		{"open", time.Date(2026, 11, 23, 10, 0, 0, 0, sh), sh, time.Date(2026, 11, 23, 10, 0, 0, 0, sh)},
		{"before opening", time.Date(2026, 11, 23, 7, 30, 0, 0, sh), sh, time.Date(2026, 11, 23, 9, 0, 0, 0, sh)},
		{"after closing", time.Date(2026, 11, 23, 18, 0, 0, 0, sh), sh, time.Date(2026, 11, 24, 9, 0, 0, 0, sh)},
		{"friday night to monday", time.Date(2026, 11, 27, 20, 0, 0, 0, sh), sh, time.Date(2026, 11, 30, 9, 0, 0, 0, sh)},
		{"saturday", time.Date(2026, 11, 28, 11, 0, 0, 0, ny), ny, time.Date(2026, 11, 30, 9, 0, 0, 0, ny)},
		// 2027-03-14 is the spring-forward Sunday in New York: Monday 09:00 is EDT.
		{"across DST", time.Date(2027, 3, 13, 12, 0, 0, 0, ny), ny, time.Date(2027, 3, 15, 9, 0, 0, 0, ny)},
		// The same instant is inside the window in Shanghai and outside in New York.
		{"same instant, other zone", time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC), ny, time.Date(2026, 11, 24, 9, 0, 0, 0, ny)},
	}
	for _, tt := range tests {
		if got := w.Next(tt.at, tt.loc); !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got.In(tt.loc), tt.want)
		}
	}
	if !w.Open(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC), sh) {
		t.Error("10:00 Tuesday in Shanghai is open")
	}
	for _, bad := range []Window{{Days: []int{0}}, {Start: "09:00"}, {Start: "18:00", End: "09:00"}, {Start: "9am", End: "10:00"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if (Window{}).Next(time.Unix(0, 0), nil) != time.Unix(0, 0).UTC() {
		t.Error("an empty window is always open")
	}
}

func TestDrip(t *testing.T) {
	d := Drip{Days: 15, Weekdays: true, Start: "09:00", End: "11:00", DailyCap: 0}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2027, 3, 1, 6, 0, 0, 0, time.UTC) // a Monday
	zones := []string{"Asia/Shanghai", "Europe/Berlin", "America/New_York"}
	perDay := map[string]int{}
	for i := 0; i < 3000; i++ {
		loc := mustLoc(t, zones[i%3])
		at := d.SendAt(start, i, fmt.Sprintf("c%d", i), loc)
		l := at.In(loc)
		if l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Fatalf("contact %d on a %s", i, l.Weekday())
		}
		if l.Hour() < 9 || l.Hour() >= 11 {
			t.Fatalf("contact %d at %v local", i, l)
		}
		if at.Before(start) || at.After(start.AddDate(0, 0, 22)) {
			t.Fatalf("contact %d at %v: outside the 15 weekdays", i, at)
		}
		perDay[l.Format("2006-01-02")]++
	}
	if len(perDay) < 15 || len(perDay) > 17 {
		t.Fatalf("spread over %d local days: %v", len(perDay), perDay)
	}
	// A daily cap: day by run order, never more than the cap on a day.
	capped := Drip{DailyCap: 100, Start: "09:00", End: "11:00"}
	days := map[string]int{}
	sh := mustLoc(t, "Asia/Shanghai")
	for i := 0; i < 450; i++ {
		days[capped.SendAt(start, i, fmt.Sprintf("k%d", i), sh).In(sh).Format("2006-01-02")]++
	}
	if len(days) != 5 {
		t.Fatalf("450 at 100 a day took %d days: %v", len(days), days)
	}
	for day, n := range days {
		if n > 100 {
			t.Fatalf("%s: %d over the cap", day, n)
		}
	}

	// Days and a cap: the run is spread over the days, the cap only a
	// ceiling (1,000 over 15 weekdays at 500 a day is ~67 a day, not 500
	// on Monday and 500 on Tuesday).
	spread := Drip{Days: 15, Weekdays: true, DailyCap: 500, Start: "09:00", End: "11:00"}
	days = map[string]int{}
	for i := 0; i < 1000; i++ {
		days[spread.SendAt(start, i, fmt.Sprintf("s%d", i), sh).In(sh).Format("2006-01-02")]++
	}
	if len(days) != 15 {
		t.Fatalf("1,000 over 15 days with a cap of 500 took %d days: %v", len(days), days)
	}
	for day, n := range days {
		if n > 67 {
			t.Fatalf("%s: %d, want the run spread evenly (at most 67 a day)", day, n)
		}
	}
	// More than days×cap: the rest goes on past the last day, at the cap.
	tight := Drip{Days: 3, DailyCap: 4, Start: "09:00", End: "11:00"}
	days = map[string]int{}
	for i := 0; i < 17; i++ {
		days[tight.SendAt(start, i, fmt.Sprintf("t%d", i), sh).In(sh).Format("2006-01-02")]++
	}
	if len(days) != 5 {
		t.Fatalf("17 at 4 a day over 3 days took %d days: %v", len(days), days)
	}
	for day, n := range days {
		if n > 4 {
			t.Fatalf("%s: %d over the cap of 4", day, n)
		}
	}
}

// TestCronAcrossDSTTransitions: robfig/cron matches wall clocks, so on the
// night the clocks go back in America/New_York "30 1 * * *" matches 01:30
// EDT and 01:30 EST; the campaign runs once for that local date and time.
// On the night they go forward 02:30 does not exist and that day has no
// run (robfig/cron's behaviour, kept and pinned here).
func TestCronAcrossDSTTransitions(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name, cron string
		from       time.Time
		want       []string // local times of the next runs
	}{
		{"fall back, once at 01:30", "30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-11-01 01:30 EDT", "2026-11-02 01:30 EST", "2026-11-03 01:30 EST"}},
		{"fall back, every half hour in the repeated hour", "*/30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT", "2026-11-02 01:00 EST"}},
		{"fall back, every minute in the repeated hour", "* 1 * * *", time.Date(2026, 11, 1, 5, 58, 0, 0, time.UTC),
			[]string{"2026-11-01 01:59 EDT", "2026-11-02 01:00 EST"}},
		{"fall back, the hour after is not a repeat", "30 2 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-11-01 02:30 EST", "2026-11-02 02:30 EST"}},
		{"spring forward, 02:30 does not exist that day", "30 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"}},
		{"spring forward, 01:30 is unaffected", "30 1 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-08 01:30 EST", "2026-03-09 01:30 EDT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Schedule{Kind: "cron", Cron: tt.cron, TimeZone: "America/New_York"}
			at := tt.from
			var got []string
			for range tt.want {
				next, ok := s.Next(at)
				if !ok {
					t.Fatal("no next run")
				}
				got = append(got, next.In(ny).Format("2006-01-02 15:04 MST"))
				at = next
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("runs %v, want %v", got, tt.want)
			}
		})
	}
	// A clock a few seconds past the first 01:30 (the run's own start)
	// must not find the repeat either.
	s := Schedule{Kind: "cron", Cron: "30 1 * * *", TimeZone: "America/New_York"}
	next, _ := s.Next(time.Date(2026, 11, 1, 5, 30, 3, 0, time.UTC))
	if want := time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC); !next.Equal(want) {
		t.Fatalf("after the first 01:30: %v, want %v", next, want)
	}
}
