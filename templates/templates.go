// Package templates turns a survey invitation into the words a channel sends:
// an email's subject, text and HTML, an SMS, a chat message. Each channel has
// embedded default templates per locale; an account may override any part,
// and an override is checked by Validate when it is saved so that a broken
// template is never discovered while sending.
//
// Templates see only Data. They get no functions beyond text/template's
// builtins, so a template cannot read files, the environment or the clock,
// and rendering the same Data always gives the same message.
package templates

import (
	"embed"
	"fmt"
	"sort"
)

// Data is everything a template may show.
type Data struct {
	Kind        string // "nps" | "csat" | "ces"
	ProductName string
	Question    string // already localized, product filled in
	ContactName string // may be empty
	// Scores in the order they are shown, e.g. 0..10 for nps. Render fills
	// them from Kind and ReplyURL when the caller leaves them empty.
	Scores         []Score
	ReplyURL       string // the reply page without a score
	UnsubscribeURL string
	// LowLabel and HighLabel name the ends of the scale. When empty, Render
	// uses the defaults for Kind in the message's locale ("Not at all likely"
	// and "Extremely likely" for nps).
	LowLabel, HighLabel string
}

// Score is one answer a contact can click.
type Score struct {
	Value int
	URL   string // ReplyURL + "?score=N"
}

// LowScore is the first score shown, so a template can say "0-10" without
// knowing the kind.
func (d Data) LowScore() int {
	if len(d.Scores) == 0 {
		return 0
	}
	return d.Scores[0].Value
}

// HighScore is the last score shown.
func (d Data) HighScore() int {
	if len(d.Scores) == 0 {
		return 0
	}
	return d.Scores[len(d.Scores)-1].Value
}

// Message holds the parts a channel uses: email all three, SMS and chat only
// Text.
type Message struct {
	Subject, Text, HTML string
}

// Overrides are an account's own templates: channel → locale → part
// ("subject", "text", "html") → template source.
type Overrides map[string]map[string]map[string]string

// Part names.
const (
	PartSubject = "subject"
	PartText    = "text"
	PartHTML    = "html"
)

// channelParts lists the parts each channel renders, in a fixed order so that
// errors and iteration are deterministic. A new channel is one line here and
// one folder under defaults/.
var channelParts = map[string][]string{
	"email": {PartSubject, PartText, PartHTML},
	"sms":   {PartText},
	"chat":  {PartText},
}

// fallbackLocale must exist for every channel and part: it is where every
// locale chain ends.
const fallbackLocale = "en"

//go:embed defaults
var defaultFS embed.FS

// Set holds the parsed defaults and a cache of compiled overrides; make one
// with New, once per process, and share it. It is safe for concurrent use.
type Set struct {
	defaults map[string]map[string]map[string]*compiled // channel → locale → part
	// reminders are the built-in reminder templates (see RenderReminder).
	reminders map[string]map[string]map[string]*compiled
	cache     *lru
}

// overrideCacheSize bounds the compiled-override cache. An account typically
// has a handful of overrides, so this covers many accounts while keeping
// memory flat when sources churn.
const overrideCacheSize = 512

// New parses and checks the embedded defaults. It fails only if the defaults
// shipped with the binary are broken, which the package tests rule out.
func New() (*Set, error) {
	s := &Set{cache: newLRU(overrideCacheSize)}
	var err error
	// Reminder templates may cover only some parts and locales: the rest
	// come from the survey's templates with the prefix.
	if s.defaults, err = loadTree(defaultFS, "defaults", "default"); err != nil {
		return nil, err
	}
	if s.reminders, err = loadTree(reminderFS, "reminders", "reminder"); err != nil {
		return nil, err
	}
	// A locale with some parts missing would mix languages in one message,
	// and a channel without the fallback locale could fail to render at all.
	for ch, parts := range channelParts {
		if s.defaults[ch][fallbackLocale] == nil {
			return nil, fmt.Errorf("templates: channel %s has no %s defaults", ch, fallbackLocale)
		}
		for loc, have := range s.defaults[ch] {
			for _, p := range parts {
				if have[p] == nil {
					return nil, fmt.Errorf("templates: default %s/%s has no %s part", ch, loc, p)
				}
			}
		}
	}
	return s, nil
}

// Channels lists the channels that have templates, sorted.
func (s *Set) Channels() []string {
	out := make([]string, 0, len(channelParts))
	for ch := range channelParts {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out
}

// Locales lists the locales a channel has default templates for, sorted; nil
// for an unknown channel.
func (s *Set) Locales(channel string) []string {
	locs := s.defaults[channel]
	if locs == nil {
		return nil
	}
	out := make([]string, 0, len(locs))
	for l := range locs {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Render produces the message for one channel and locale.
//
// Each part is chosen on its own: walking the locale chain (the exact locale,
// then zh-HK/zh-MO/zh-Hant → zh-TW and other zh → zh-CN, then the bare
// language, then "en"), the first locale with an override for the part wins,
// else the first with a default. So overriding only the English subject
// changes the subject of every message that would have been English, and
// leaves its text and HTML alone.
//
// An unknown channel gives an error matching ErrUnknownChannel; a part that
// fails to render gives an *Error.
func (s *Set) Render(channel, locale string, ov Overrides, d Data) (Message, error) {
	parts, ok := channelParts[channel]
	if !ok {
		return Message{}, &Error{Channel: channel, Msg: "unknown channel", err: ErrUnknownChannel}
	}
	chain := localeChain(locale)
	d = complete(d, chain)
	var m Message
	for _, part := range parts {
		c, loc, err := s.pick(channel, part, chain, ov[channel])
		if err != nil {
			err.Channel, err.Locale = channel, loc
			return Message{}, err
		}
		out, err := c.render(part, &d)
		if err != nil {
			err.Channel, err.Locale = channel, loc
			return Message{}, err
		}
		m.set(part, out)
	}
	return m, nil
}

// set puts a rendered part in its field.
func (m *Message) set(part, out string) {
	switch part {
	case PartSubject:
		m.Subject = out
	case PartText:
		m.Text = out
	case PartHTML:
		m.HTML = out
	}
}

// pick finds the template for one part and the locale it belongs to.
func (s *Set) pick(channel, part string, chain []string, ov map[string]map[string]string) (*compiled, string, *Error) {
	for _, loc := range chain {
		if src, key := overrideFor(ov, loc, part); src != "" {
			c, err := s.compileCached(part, src)
			return c, key, err
		}
		if c := s.defaults[channel][loc][part]; c != nil {
			return c, loc, nil
		}
	}
	// Unreachable while New insists on complete fallback defaults.
	return nil, "", &Error{Part: part, Msg: "no template"}
}

// overrideFor looks up an override by canonical locale, so "zh_tw" saved by
// an account matches a contact whose locale is "zh-TW". An exact key wins
// over one that only canonicalizes the same. Empty sources count as absent.
func overrideFor(ov map[string]map[string]string, loc, part string) (src, key string) {
	if src := ov[loc][part]; src != "" {
		return src, loc
	}
	for k, parts := range ov {
		if k == loc || parts[part] == "" {
			continue
		}
		if c, ok := canonLocale(k); ok && c == loc {
			return parts[part], k
		}
	}
	return "", ""
}

func (s *Set) compileCached(part, src string) (*compiled, *Error) {
	key := cacheKey(part, src)
	if c, ok := s.cache.get(key); ok {
		return c, nil
	}
	c, err := compile(part, src)
	if err != nil {
		return nil, err
	}
	s.cache.add(key, c)
	return c, nil
}

func knownPart(channel, part string) bool {
	for _, p := range channelParts[channel] {
		if p == part {
			return true
		}
	}
	return false
}

// complete fills what Render promises to fill when the caller leaves it
// empty: the scores from Kind and ReplyURL, and the scale labels in the
// first locale of the chain that has them.
func complete(d Data, chain []string) Data {
	if len(d.Scores) == 0 {
		d.Scores = scoresFor(d.Kind, d.ReplyURL)
	}
	if d.LowLabel == "" || d.HighLabel == "" {
		lo, hi := labelsFor(d.Kind, chain)
		if d.LowLabel == "" {
			d.LowLabel = lo
		}
		if d.HighLabel == "" {
			d.HighLabel = hi
		}
	}
	return d
}
