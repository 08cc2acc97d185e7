package survey

import (
	"errors"
	"testing"
)

func tally(pairs ...int) Tally {
	var t Tally
	for i := 0; i+1 < len(pairs); i += 2 {
		t[pairs[i]] += pairs[i+1]
	}
	return t
}

func TestCategoryOf(t *testing.T) {
	tests := []struct {
		kind  Kind
		score int
		want  Category
	}{
		{NPS, 0, Detractor}, {NPS, 6, Detractor}, {NPS, 7, Passive}, {NPS, 8, Passive},
		{NPS, 9, Promoter}, {NPS, 10, Promoter},
		{CSAT, 1, Detractor}, {CSAT, 2, Detractor}, {CSAT, 3, Passive}, {CSAT, 4, Promoter}, {CSAT, 5, Promoter},
		{CES, 4, Detractor}, {CES, 5, Passive}, {CES, 6, Promoter}, {CES, 7, Promoter},
	}
	for _, tt := range tests {
		if got := tt.kind.CategoryOf(tt.score); got != tt.want {
			t.Errorf("%s %d: got %s, want %s", tt.kind, tt.score, got, tt.want)
		}
	}
}

func TestCheckScore(t *testing.T) {
	for _, tt := range []struct {
		kind  Kind
		score int
		ok    bool
	}{{NPS, -1, false}, {NPS, 0, true}, {NPS, 10, true}, {NPS, 11, false}, {CSAT, 0, false}, {CSAT, 5, true}, {CES, 8, false}} {
		err := tt.kind.CheckScore(tt.score)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrScoreOutOfRange)) {
			t.Errorf("%s %d: %v", tt.kind, tt.score, err)
		}
	}
}

func TestSummarizeNPS(t *testing.T) {
	tests := []struct {
		name        string
		t           Tally
		n, p, pa, d int
		score, moe  float64
	}{
		{"no responses", Tally{}, 0, 0, 0, 0, 0, 0},
		{"all passives", tally(7, 3, 8, 2), 5, 0, 5, 0, 0, 0},
		{"all promoters", tally(10, 4), 4, 4, 0, 0, 100, 0},
		{"all detractors", tally(0, 1, 6, 1), 2, 0, 0, 2, -100, 0},
		// 3 promoters, 4 passives, 1 detractor of 8: (3-1)/8 = 25%.
		// variance = 3/8 + 1/8 - (1/4)^2 = 0.4375; moe = 196*sqrt(0.4375/8) = 45.8
		{"mixed", tally(10, 2, 9, 1, 8, 2, 7, 2, 3, 1), 8, 3, 4, 1, 25, 45.8},
		// 1 promoter of 8 others passive: 12.5 exactly, not 12.499…
		{"rounding half", tally(9, 1, 7, 7), 8, 1, 7, 0, 12.5, 22.9},
		// 1 of 3 promoters: 33.333… → 33.3
		{"thirds", tally(9, 1, 7, 2), 3, 1, 2, 0, 33.3, 53.3},
		// 2 detractors of 3: -66.666… → -66.7 (half away from zero)
		{"negative thirds", tally(0, 2, 7, 1), 3, 0, 1, 2, -66.7, 53.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(NPS, tt.t)
			if s.Responses != tt.n || s.Promoters != tt.p || s.Passives != tt.pa || s.Detractors != tt.d {
				t.Fatalf("counts %+v", s)
			}
			if s.Score != tt.score || s.MarginOfError != tt.moe {
				t.Fatalf("score %v ± %v, want %v ± %v", s.Score, s.MarginOfError, tt.score, tt.moe)
			}
			if s.Empty() != (tt.n == 0) {
				t.Fatal("Empty")
			}
		})
	}
}

func TestSummarizeCSATAndCES(t *testing.T) {
	c := Summarize(CSAT, tally(5, 2, 4, 1, 3, 1))
	if c.Score != 75 || c.Promoters != 3 || c.Passives != 1 {
		t.Fatalf("csat %+v", c)
	}
	e := Summarize(CES, tally(7, 1, 5, 1, 3, 1))
	if e.Score != 5 || e.Responses != 3 || e.MarginOfError != 2.3 {
		t.Fatalf("ces %+v", e)
	}
}

func TestPct(t *testing.T) {
	s := Summarize(NPS, tally(10, 1, 8, 1, 0, 1))
	if s.Pct(s.Promoters) != 33.3 || s.Pct(s.Detractors) != 33.3 || (Summary{}).Pct(1) != 0 {
		t.Fatalf("pct %+v", s)
	}
}

func TestTextFor(t *testing.T) {
	own := map[string]Text{"en": {Question: "Would you recommend {product}?"}}
	tx, loc := TextFor(NPS, own, "en")
	if loc != "en" || tx.Question != "Would you recommend {product}?" || tx.FollowUpPassive == "" {
		t.Fatalf("own text with defaults for the gaps: %+v", tx)
	}
	for in, want := range map[string]string{"zh-HK": "zh-TW", "zh_Hant_TW": "zh-TW", "zh": "zh-CN", "fr-FR": "en", "": "en"} {
		if _, got := TextFor(NPS, nil, in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	if q := tx.WithProduct("Acme").Question; q != "Would you recommend Acme?" {
		t.Fatal(q)
	}
}
