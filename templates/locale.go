package templates

import "strings"

// canonLocale normalizes a BCP 47-ish tag the way our folders are named:
// "zh_tw" → "zh-TW", "ZH-hant-hk" → "zh-Hant-HK", "EN" → "en". It reports
// false for anything that is not a plausible tag, so an override saved under
// a garbage key is refused rather than silently never used.
func canonLocale(s string) (string, bool) {
	if s == "" || len(s) > 35 {
		return "", false
	}
	sub := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	if len(sub) == 0 || strings.Count(s, "-")+strings.Count(s, "_") != len(sub)-1 {
		return "", false // empty subtags: "en--US", "-en", "en_"
	}
	for i, t := range sub {
		if len(t) > 8 || !isAlnum(t) {
			return "", false
		}
		switch {
		case i == 0:
			if len(t) < 2 || !isAlpha(t) {
				return "", false
			}
			sub[i] = strings.ToLower(t)
		case len(t) == 4 && isAlpha(t): // script
			sub[i] = strings.ToUpper(t[:1]) + strings.ToLower(t[1:])
		case len(t) == 2 && isAlpha(t), len(t) == 3 && isDigit(t): // region
			sub[i] = strings.ToUpper(t)
		default:
			sub[i] = strings.ToLower(t)
		}
	}
	return strings.Join(sub, "-"), true
}

// localeChain is the order in which locales are tried for a requested one:
// itself, then the Chinese script it implies (zh-HK, zh-MO and zh-Hant read
// Traditional as in zh-TW; every other zh reads Simplified as in zh-CN), then
// the bare language ("pt-BR" → "pt"), then "en". It matches
// survey.MatchLocale for the locales we ship.
func localeChain(locale string) []string {
	out := make([]string, 0, 3)
	add := func(l string) {
		for _, have := range out {
			if have == l {
				return
			}
		}
		out = append(out, l)
	}
	if c, ok := canonLocale(locale); ok {
		add(c)
		sub := strings.Split(c, "-")
		if sub[0] == "zh" {
			if traditional(sub[1:]) {
				add("zh-TW")
			} else {
				add("zh-CN")
			}
		} else {
			add(sub[0])
		}
	}
	add(fallbackLocale)
	return out
}

// traditional decides the script of a Chinese tag from its subtags after
// "zh": an explicit script wins, otherwise the region decides.
func traditional(sub []string) bool {
	for _, t := range sub {
		switch t {
		case "Hant":
			return true
		case "Hans":
			return false
		}
	}
	for _, t := range sub {
		switch t {
		case "TW", "HK", "MO":
			return true
		}
	}
	return false
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i:i+1]) && !isDigit(s[i:i+1]) {
			return false
		}
	}
	return true
}
