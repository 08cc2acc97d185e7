package templates

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// gsmBasicTable is the GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1)
// by code, 0x00 to 0x7F, written as code points so it does not depend on the
// switch in gsmSeptets; -1 is the escape to the extension table.
var gsmBasicTable = [128]rune{
	0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
	0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, -1, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
	0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, 0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
	0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, 0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F,
	0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, 0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F,
	0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, 0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
	0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, 0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F,
	0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, 0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
}

// gsmExtensionTable holds the characters of the extension table (§6.2.1.1)
// with their codes after the escape.
var gsmExtensionTable = map[rune]byte{
	0x000C: 0x0A, 0x005E: 0x14, 0x007B: 0x28, 0x007D: 0x29, 0x005C: 0x2F,
	0x005B: 0x3C, 0x007E: 0x3D, 0x005D: 0x3E, 0x007C: 0x40, 0x20AC: 0x65,
}

func TestGSMTables(t *testing.T) {
	want := make(map[rune]int)
	for _, r := range gsmBasicTable {
		if r >= 0 {
			want[r] = 1
		}
	}
	for r := range gsmExtensionTable {
		if want[r] != 0 {
			t.Fatalf("%U in both tables", r)
		}
		want[r] = 2
	}
	if len(want) != 127+10 {
		t.Fatalf("%d characters in the tables, want 137", len(want))
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if got := gsmSeptets(r); got != want[r] {
			t.Fatalf("gsmSeptets(%U %q) = %d, want %d", r, r, got, want[r])
		}
	}
}

func TestSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("中", n) }
	const emoji = "😀" // two UTF-16 units
	tests := []struct {
		name string
		text string
		enc  Encoding
		n    int
	}{
		{"empty is one SMS", "", GSM7, 1},
		{"one char", "a", GSM7, 1},
		{"160 GSM", a(160), GSM7, 1},
		{"161 GSM", a(161), GSM7, 2},
		{"153x2 GSM", a(306), GSM7, 2},
		{"307 GSM", a(307), GSM7, 3},
		{"153x10 GSM", a(1530), GSM7, 10},
		{"1531 GSM", a(1531), GSM7, 11},
		{"basic non-ASCII is one septet", strings.Repeat("é", 160), GSM7, 1},
		{"all basic", string(basicChars()), GSM7, 1},
		{"158 + € is 160 septets", a(158) + "€", GSM7, 1},
		{"159 + € is 161 septets", a(159) + "€", GSM7, 2},
		{"€ first at 160", "€" + a(158), GSM7, 1},
		{"80 € is 160 septets", strings.Repeat("€", 80), GSM7, 1},
		{"81 €", strings.Repeat("€", 81), GSM7, 2},
		{"extension chars count 2", strings.Repeat("{}", 40), GSM7, 1},
		{"extension chars count 2, over", strings.Repeat("{}", 40) + "a", GSM7, 2},
		{"form feed is extension", a(159) + "\f", GSM7, 2},
		{"newlines are basic", strings.Repeat("\n", 160), GSM7, 1},
		{"€ fills part one exactly", a(151) + "€" + a(153), GSM7, 2},
		{"€ not split across parts", a(152) + "€" + a(152), GSM7, 3},
		{"€ straddling, short tail", a(152) + "€" + a(10), GSM7, 2},
		{"backtick is not GSM", "Hello `world`", UCS2, 1},
		{"tab is not GSM", "a\tb", UCS2, 1},
		{"ç is not GSM (0x09 is Ç)", "ç", UCS2, 1},
		{"Ç is GSM", "Ç", GSM7, 1},
		{"curly quote forces UCS-2", a(100) + "’", UCS2, 2},
		{"70 Chinese", zh(70), UCS2, 1},
		{"71 Chinese", zh(71), UCS2, 2},
		{"67x2 Chinese", zh(134), UCS2, 2},
		{"135 Chinese", zh(135), UCS2, 3},
		{"69 + emoji is 71 units", zh(69) + emoji, UCS2, 2},
		{"68 + emoji is 70 units", zh(68) + emoji, UCS2, 1},
		{"35 emoji", strings.Repeat(emoji, 35), UCS2, 1},
		{"36 emoji", strings.Repeat(emoji, 36), UCS2, 2},
		{"emoji fills part one exactly", zh(65) + emoji + zh(67), UCS2, 2},
		{"emoji not split across parts", zh(66) + emoji + zh(66), UCS2, 3},
		{"GSM text with one Chinese char", a(69) + "中", UCS2, 1},
		{"GSM text with one Chinese char, over", a(70) + "中", UCS2, 2},
		{"extension chars count 1 in UCS-2", strings.Repeat("€", 69) + "中", UCS2, 1},
		{"invalid UTF-8", "\xff", UCS2, 1},
		{"invalid UTF-8 per byte", strings.Repeat("\xff", 71), UCS2, 2},
	}
	for _, tt := range tests {
		enc, n := Segments(tt.text)
		if enc != tt.enc || n != tt.n {
			t.Errorf("%s: Segments = %s, %d; want %s, %d", tt.name, enc, n, tt.enc, tt.n)
		}
		if rn := refSegments(tt.text); enc != rn.enc || n != rn.n {
			t.Errorf("%s: reference disagrees: %s, %d", tt.name, rn.enc, rn.n)
		}
	}
}

// TestSegmentsDefaults keeps every default SMS template, rendered with the
// sample, to a single segment.
func TestSegmentsDefaults(t *testing.T) {
	s := newSet(t)
	for _, loc := range s.Locales("sms") {
		for _, kind := range []string{"nps", "csat", "ces"} {
			m, err := s.Render("sms", loc, nil, Sample(kind, loc))
			if err != nil {
				t.Fatal(err)
			}
			if enc, n := Segments(m.Text); n != 1 {
				t.Errorf("%s/%s: %s in %d segments: %q", loc, kind, enc, n, m.Text)
			}
		}
	}
}

func TestSegmentsAllocs(t *testing.T) {
	text := strings.Repeat("中😀a€", 100)
	if n := testing.AllocsPerRun(10, func() { Segments(text) }); n != 0 {
		t.Errorf("Segments allocates %v times", n)
	}
}

func basicChars() []rune {
	var out []rune
	for _, r := range gsmBasicTable {
		if r >= 0 && r != '\n' && r != '\r' {
			out = append(out, r)
		}
	}
	return out
}

type refResult struct {
	enc Encoding
	n   int
}

// refSegments counts segments the slow way, from the spec tables: encode
// the text to septets or UTF-16 units, then fill parts one character at a
// time without splitting any character.
func refSegments(text string) refResult {
	var sizes []int
	gsm := true
	basic := make(map[rune]bool)
	for _, r := range gsmBasicTable {
		basic[r] = true
	}
	for _, r := range stringRunes(text) {
		switch {
		case basic[r]:
			sizes = append(sizes, 1)
		case gsmExtensionTable[r] != 0:
			sizes = append(sizes, 2)
		default:
			gsm = false
		}
	}
	enc, single, part := GSM7, 160, 153
	if !gsm {
		enc, single, part = UCS2, 70, 67
		sizes = sizes[:0]
		for _, r := range stringRunes(text) {
			sizes = append(sizes, len(utf16.Encode([]rune{r})))
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total <= single {
		return refResult{enc, 1}
	}
	var parts [][]int
	for _, s := range sizes {
		if len(parts) == 0 || sum(parts[len(parts)-1])+s > part {
			parts = append(parts, nil)
		}
		parts[len(parts)-1] = append(parts[len(parts)-1], s)
	}
	return refResult{enc, len(parts)}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// stringRunes holds the text's runes as Segments sees them: a bad byte is
// one U+FFFD.
func stringRunes(s string) []rune {
	var out []rune
	for _, r := range s {
		out = append(out, r)
	}
	return out
}

func FuzzSegments(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 161), "€", strings.Repeat("中", 71),
		"😀", "\xff", "Hello `x`", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		enc, n := Segments(text)
		if n < 1 {
			t.Fatalf("%q: %d segments", text, n)
		}
		if enc != GSM7 && enc != UCS2 {
			t.Fatalf("%q: encoding %q", text, enc)
		}
		if ref := refSegments(text); enc != ref.enc || n != ref.n {
			t.Fatalf("%q: Segments = %s, %d; reference %s, %d", text, enc, n, ref.enc, ref.n)
		}
		// Whatever it costs, one segment fewer could not hold it. A
		// surrogate pair is never split across segments, so a part may
		// carry one unit less than its capacity.
		units := len(utf16.Encode(stringRunes(text)))
		if enc == UCS2 && n > 1 && (n-1)*(ucsPart-1) >= units {
			t.Fatalf("%q: %d segments for %d units", text, n, units)
		}
		// Appending GSM text to a GSM message never takes fewer segments.
		if enc == GSM7 {
			if _, m := Segments(text + "a"); m < n {
				t.Fatalf("%q: %d segments, but %d with one more char", text, n, m)
			}
		}
	})
}
