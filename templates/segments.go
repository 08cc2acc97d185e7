package templates

// Encoding is the character encoding an SMS is sent in.
type Encoding string

const (
	// GSM7 is the GSM 03.38 (3GPP TS 23.038) default alphabet with its
	// extension table: 7-bit septets.
	GSM7 Encoding = "GSM-7"
	// UCS2 is 16-bit UTF-16: any text, at less than half the length.
	UCS2 Encoding = "UCS-2"
)

// Segment capacities. A concatenated message spends 6 of each part's 140
// bytes on the header that joins the parts.
const (
	gsmSingle = 160 // septets in a message of one segment
	gsmPart   = 153 // septets in each part of a concatenated message
	ucsSingle = 70  // UTF-16 code units in a message of one segment
	ucsPart   = 67  // UTF-16 code units in each part of a concatenated message
)

// Segments reports the encoding an SMS of text needs and how many segments
// it takes, which is what providers bill.
//
// Text made only of characters of the GSM 03.38 basic and extension tables
// is GSM-7: 160 septets in one segment, 153 per part beyond that, each
// extension character (form feed and ^ { } \ [ ~ ] | €) taking two septets,
// an escape and its code. Any other character makes the whole message UCS-2:
// 70 UTF-16 code units in one segment, 67 per part, a character outside the
// Basic Multilingual Plane (most emoji) taking two units, a surrogate pair.
// Only exact table characters count as GSM-7: ç, á or a curly quote force
// UCS-2 (0x09 is Ç, as in the standard).
//
// A character is never split between two parts: an escape stays with its
// extension character and a surrogate pair stays whole, moving to the next
// part when only one septet or unit is left, as handsets and providers do.
// So 152 basic characters, a € and 152 more take three parts, not two.
// (Twilio's segment calculator goes further and keeps whole grapheme
// clusters, such as a ZWJ emoji sequence, in one part; a long message of
// those may take one part more there than here.)
//
// An empty message is GSM-7 and takes one segment: it is still one SMS.
// Invalid UTF-8 is counted as U+FFFD, one per bad byte, as it would be sent.
// Segments is linear in the length of text and never allocates.
func Segments(text string) (Encoding, int) {
	enc, single, part, cost := GSM7, gsmSingle, gsmPart, gsmSeptets
	for _, r := range text {
		if gsmSeptets(r) == 0 {
			enc, single, part, cost = UCS2, ucsSingle, ucsPart, utf16Units
			break
		}
	}
	total := 0
	for _, r := range text {
		total += cost(r)
		if total > single {
			break
		}
	}
	if total <= single {
		return enc, 1
	}
	n, used := 1, 0
	for _, r := range text {
		c := cost(r)
		if used+c > part {
			n++
			used = 0
		}
		used += c
	}
	return enc, n
}

// utf16Units is the number of UTF-16 code units of r.
func utf16Units(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// gsmSeptets is the number of septets r takes in GSM-7: 1 for the basic
// table, 2 for the extension table, 0 when it has no GSM-7 form.
func gsmSeptets(r rune) int {
	if r < 0x80 {
		switch {
		case r == '\n' || r == '\r':
			return 1
		case r == '\f':
			return 2
		case r < ' ' || r == '`' || r == 0x7F:
			return 0
		}
		switch r {
		case '^', '{', '}', '\\', '[', '~', ']', '|':
			return 2
		}
		return 1 // the rest of printable ASCII, including @ $ _
	}
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ',
		'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿', 'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}
