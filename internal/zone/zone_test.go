package zone

import (
	"testing"
	"time"
)

func TestNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		want string
	}{
		{"Asia/Shanghai", true, "Asia/Shanghai"},
		{"UTC", true, "UTC"},
		{"", true, "UTC"},
		{"Local", false, ""},
		{"Mars/Olympus_Mons", false, ""},
		{"Asia/Shanghai", true, "Asia/Shanghai"}, // remembered: the same answer
		{"Mars/Olympus_Mons", false, ""},
	} {
		l, ok := Named(tc.name)
		if ok != tc.ok || (ok && l.String() != tc.want) {
			t.Errorf("Named(%q) = %v, %v; want %q, %v", tc.name, l, ok, tc.want, tc.ok)
		}
	}
	if l, err := Load("Local"); err != nil || l != time.Local {
		t.Errorf("Load(Local) = %v, %v; want the host's zone", l, err)
	}
}

// Names that do not load are kept up to a bound, so outside input cannot
// grow the memory without end; they still fail after it.
func TestBadNamesBounded(t *testing.T) {
	for i := range maxBad + 100 {
		if _, err := Load("Nowhere/Zone_" + string(rune('a'+i%26)) + time.Duration(i).String()); err == nil {
			t.Fatal("a made-up zone loaded")
		}
	}
	n := 0
	loaded.Range(func(_, v any) bool {
		if _, isErr := v.(error); isErr {
			n++
		}
		return true
	})
	if n > maxBad {
		t.Errorf("%d bad names kept, want at most %d", n, maxBad)
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load("America/Los_Angeles"); err != nil {
			b.Fatal(err)
		}
	}
}
