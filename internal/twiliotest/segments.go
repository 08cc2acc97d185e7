package twiliotest

import "unicode/utf16"

// gsm7 is the GSM 03.38 default alphabet (escape excluded) and gsm7Ext its
// extension table, whose characters take two septets.
const (
	gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "\f^{}\\[~]|€"
)

var gsm7Set, gsm7ExtSet = runeSet(gsm7), runeSet(gsm7Ext)

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool, len(s))
	for _, r := range s {
		m[r] = true
	}
	return m
}

// Segments is how many SMS segments Twilio bills body as: GSM-7 text takes
// 160 septets in one segment and 153 per segment when concatenated; text
// with any other character goes as UCS-2, 70 UTF-16 units alone or 67 per
// segment. An empty body is one segment.
func Segments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case gsm7Set[r]:
			septets++
		case gsm7ExtSet[r]:
			septets += 2
		default:
			gsm = false
		}
	}
	if gsm {
		return split(septets, 160, 153)
	}
	return split(len(utf16.Encode([]rune(body))), 70, 67)
}

func split(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
