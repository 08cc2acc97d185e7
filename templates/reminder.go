package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// A reminder is rendered from layers, part by part. In each locale of the
// chain, the first of these that has the part wins:
//
//  1. the reminder's own overrides, most specific first, as written;
//  2. the survey's overrides, with the reminder prefix;
//  3. the built-in reminder template where one ships (reminders/), else
//     the built-in survey template with the reminder prefix.
//
// So a reminder overridden only in English reads, for a zh-CN contact, as
// the survey's own zh-CN message marked "提醒：", never as a fresh survey.

//go:embed reminders
var reminderFS embed.FS

// reminderPrefix marks a reminder rendered from a survey template, in the
// language of the template used. HTML gets none: it has no single place
// where a word could go, and the subject above it carries the prefix.
var reminderPrefix = map[string]string{"en": "Reminder: ", "zh-CN": "提醒：", "zh-TW": "提醒："}

// ReminderPrefix is the reminder prefix for a locale (English for a
// locale without one of its own).
func ReminderPrefix(locale string) string {
	for _, l := range localeChain(locale) {
		if p, ok := reminderPrefix[l]; ok {
			return p
		}
	}
	return reminderPrefix[fallbackLocale]
}

// loadTree parses a tree of built-in templates, <root>/<channel>/<locale>/<part>.tmpl,
// into channel → locale → part. The defaults and the reminders share it;
// what names the tree in errors.
func loadTree(fsys embed.FS, root, what string) (map[string]map[string]map[string]*compiled, error) {
	out := make(map[string]map[string]map[string]*compiled)
	err := fs.WalkDir(fsys, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f := strings.Split(p, "/")
		part, ok := strings.CutSuffix(path.Base(p), ".tmpl")
		if len(f) != 4 || !ok {
			return fmt.Errorf("templates: unexpected %s file %s", what, p)
		}
		ch, loc := f[1], f[2]
		if !knownPart(ch, part) {
			return fmt.Errorf("templates: %s %s: unknown channel or part", what, p)
		}
		if c, ok := canonLocale(loc); !ok || c != loc {
			return fmt.Errorf("templates: %s %s: locale folder must be a canonical tag", what, p)
		}
		src, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		c, cerr := checkSource(ch, loc, part, string(src))
		if cerr != nil {
			return fmt.Errorf("templates: %s: %w", what, cerr)
		}
		if out[ch] == nil {
			out[ch] = make(map[string]map[string]*compiled)
		}
		if out[ch][loc] == nil {
			out[ch][loc] = make(map[string]*compiled)
		}
		out[ch][loc][part] = c
		return nil
	})
	return out, err
}

// Origin says where a reminder's part comes from: Own is the index of the
// reminder override used (-1 for none), Survey marks the survey's
// override, neither a built-in template. Locale is the key of the
// template used.
type Origin struct {
	Own    int
	Survey bool
	Locale string
}

// RenderReminder renders a reminder for one channel and locale from its
// own overrides (most specific first), the survey's overrides and the
// built-in templates, part by part as described above.
func (s *Set) RenderReminder(channel, locale string, own []Overrides, survey Overrides, d Data) (Message, error) {
	parts, ok := channelParts[channel]
	if !ok {
		return Message{}, &Error{Channel: channel, Msg: "unknown channel", err: ErrUnknownChannel}
	}
	chain := localeChain(locale)
	d = complete(d, chain)
	var m Message
	for _, part := range parts {
		c, prefix, o, err := s.pickReminder(channel, part, chain, own, survey)
		if err != nil {
			err.Channel, err.Locale = channel, o.Locale
			return Message{}, err
		}
		out, err := c.render(part, &d)
		if err != nil {
			err.Channel, err.Locale = channel, o.Locale
			return Message{}, err
		}
		m.set(part, prefix+out)
	}
	return m, nil
}

// ReminderOrigin tells where RenderReminder would take a part from, so
// that a message too long for its limit can be blamed on the template an
// admin can change.
func (s *Set) ReminderOrigin(channel, locale, part string, own []Overrides, survey Overrides) Origin {
	_, _, o, _ := s.pickReminder(channel, part, localeChain(locale), own, survey)
	return o
}

func (s *Set) pickReminder(channel, part string, chain []string, own []Overrides, survey Overrides) (*compiled, string, Origin, *Error) {
	prefix := func(loc string) string {
		if part == PartHTML {
			return ""
		}
		return ReminderPrefix(loc)
	}
	for _, loc := range chain {
		for i, ov := range own {
			if src, key := overrideFor(ov[channel], loc, part); src != "" {
				c, err := s.compileCached(part, src)
				return c, "", Origin{Own: i, Locale: key}, err
			}
		}
		if src, key := overrideFor(survey[channel], loc, part); src != "" {
			c, err := s.compileCached(part, src)
			return c, prefix(loc), Origin{Own: -1, Survey: true, Locale: key}, err
		}
		if c := s.reminders[channel][loc][part]; c != nil {
			return c, "", Origin{Own: -1, Locale: loc}, nil
		}
		if c := s.defaults[channel][loc][part]; c != nil {
			return c, prefix(loc), Origin{Own: -1, Locale: loc}, nil
		}
	}
	// Unreachable while New insists on complete fallback defaults.
	return nil, "", Origin{Own: -1}, &Error{Part: part, Msg: "no template"}
}
