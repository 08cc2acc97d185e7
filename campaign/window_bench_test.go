package campaign_test

import (
	"testing"
	"time"

	"github.com/npsgate/npsgate/campaign"
)

// BenchmarkWindowNext is the send time of one campaign delivery: the next
// opening of a weekday office-hours window in the contact's time zone,
// computed for every contact of a fan-out.
func BenchmarkWindowNext(b *testing.B) {
	w := campaign.Window{Days: []int{1, 2, 3, 4, 5}, Start: "09:00", End: "18:00"}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Skip(err)
	}
	now := time.Date(2025, 3, 8, 22, 30, 0, 0, time.UTC) // a Saturday night
	b.ReportAllocs()
	for b.Loop() {
		w.Next(now, loc)
	}
}

// BenchmarkLoadLocation is what reading a contact's time zone by name
// costs when nothing caches it (the fan-out and the send gate look one up
// per contact).
func BenchmarkLoadLocation(b *testing.B) {
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
			b.Fatal(err)
		}
	}
}
