package templates

import (
	"fmt"
	"sort"
)

// Validate checks overrides before they are saved. Every part must belong to
// a known channel, sit under a well-formed locale, parse, stay within the
// execution limits, and execute without error against Sample data of every
// kind in its locale; a subject must render as one line. It returns nil or
// the first problem as an *Error, in a stable order (channels, locales and
// parts sorted) so that the same input always gets the same answer.
func Validate(ov Overrides) error {
	for _, ch := range sortedKeys(ov) {
		if _, ok := channelParts[ch]; !ok {
			return &Error{Channel: ch, Msg: "unknown channel", err: ErrUnknownChannel}
		}
		seen := make(map[string]string) // canonical locale → key that had it
		for _, loc := range sortedKeys(ov[ch]) {
			canon, ok := canonLocale(loc)
			if !ok {
				return &Error{Channel: ch, Locale: loc, Msg: "not a locale tag such as en or zh-TW"}
			}
			if prev, dup := seen[canon]; dup {
				// Which of the two a send would use is not obvious to the
				// admin; make them pick.
				return &Error{Channel: ch, Locale: loc, Msg: fmt.Sprintf("same locale as %q", prev)}
			}
			seen[canon] = loc
			for _, part := range sortedKeys(ov[ch][loc]) {
				if !knownPart(ch, part) {
					return &Error{Channel: ch, Locale: loc, Part: part,
						Msg: fmt.Sprintf("unknown part; %s has %v", ch, channelParts[ch])}
				}
				if _, err := checkSource(ch, loc, part, ov[ch][loc][part]); err != nil {
					err.Locale = loc // as the admin wrote it, not canonical
					return err
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
