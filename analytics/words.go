package analytics

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the Chinese dictionary
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"
)

//go:generate go run ./internal/mkdict -o zhdict.txt.gz

// zhDict is gse's Chinese dictionary cut to its 130,000 common words
// (simplified and traditional, gzipped: 0.8 MB), see internal/mkdict.
//
//go:embed zhdict.txt.gz
var zhDict []byte

// Term is a word or phrase and the number of comments that use it.
type Term struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// Words counts the words and phrases of comments. Chinese is segmented
// with gse, whose dictionary is loaded on the first Chinese text (about
// 0.2 s and 25 MB of heap) and kept; other scripts are split at spaces.
// A Words is safe for concurrent use; make one per process and share it.
type Words struct {
	once sync.Once
	err  error
	mu   sync.Mutex // gse's HMM keeps global state; cuts take turns
	// cut segments Chinese text. It is a func, not a gse.Segmenter field,
	// so that reflection cannot reach the segmenter's methods through a
	// Words and the linker can drop gse's own embedded dictionaries
	// (38 MB) that only those methods use.
	cut func(string) []string
}

// NewWords returns a Words that has loaded nothing yet.
func NewWords() *Words { return &Words{} }

func (w *Words) load() error {
	w.once.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(zhDict))
		if err != nil {
			w.err = fmt.Errorf("analytics: Chinese dictionary: %w", err)
			return
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			w.err = fmt.Errorf("analytics: Chinese dictionary: %w", err)
			return
		}
		seg := &gse.Segmenter{SkipLog: true}
		if err := seg.LoadDictStr(string(b)); err != nil {
			w.err = fmt.Errorf("analytics: Chinese dictionary: %w", err)
			return
		}
		w.cut = func(s string) []string { return seg.Cut(s, true) }
	})
	return w.err
}

// token is one word of a clause; stop tokens count for nothing and break
// phrases.
type token struct {
	text string
	han  bool
	stop bool
}

// Tokens returns the words of text that count, lowercased, in order, for
// tests and for highlighting.
func (w *Words) Tokens(text string) ([]string, error) {
	clauses, err := w.clauses(text)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range clauses {
		for _, t := range c {
			if !t.stop {
				out = append(out, t.text)
			}
		}
	}
	return out, nil
}

// clauses splits text at punctuation into clauses of tokens: Chinese runs
// through gse, other letters at spaces.
func (w *Words) clauses(text string) ([][]token, error) {
	text = strings.ToLower(text)
	var (
		out    [][]token
		clause []token
		word   strings.Builder
		han    strings.Builder
		err    error
	)
	flushWord := func() {
		if word.Len() > 0 {
			s := strings.Trim(word.String(), "'’-")
			s = strings.TrimSuffix(strings.TrimSuffix(s, "'s"), "’s")
			if s != "" {
				clause = append(clause, token{text: s, stop: isStopLatin(s)})
			}
			word.Reset()
		}
	}
	flushHan := func() {
		if han.Len() == 0 || err != nil {
			han.Reset()
			return
		}
		var parts []string
		parts, err = w.segment(han.String())
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			clause = append(clause, token{text: p, han: true, stop: isStopHan(p)})
		}
		han.Reset()
	}
	endClause := func() {
		flushWord()
		flushHan()
		if len(clause) > 0 {
			out = append(out, clause)
			clause = nil
		}
	}
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han.WriteRune(r)
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			flushHan()
			word.WriteRune(r)
		case (r == '\'' || r == '’' || r == '-') && word.Len() > 0:
			word.WriteRune(r)
		case unicode.IsSpace(r):
			flushWord()
			flushHan()
		default:
			endClause()
		}
	}
	endClause()
	return out, err
}

func (w *Words) segment(s string) ([]string, error) {
	if err := w.load(); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cut(s), nil
}

// Top counts, for each term, the comments that use it at least once, and
// returns the n most frequent words and the n most frequent two-word
// phrases (used by at least two comments), most frequent first.
func (w *Words) Top(texts []string, n int) (words, phrases []Term, err error) {
	wc := map[string]int{}
	pc := map[string]int{}
	for _, text := range texts {
		clauses, err := w.clauses(text)
		if err != nil {
			return nil, nil, err
		}
		seenW := map[string]bool{}
		seenP := map[string]bool{}
		for _, c := range clauses {
			for i, t := range c {
				if t.stop {
					continue
				}
				if !seenW[t.text] {
					seenW[t.text] = true
					wc[t.text]++
				}
				if i+1 < len(c) && !c[i+1].stop {
					p := joinPhrase(t, c[i+1])
					if !seenP[p] {
						seenP[p] = true
						pc[p]++
					}
				}
			}
		}
	}
	return top(wc, n, 1), top(pc, n, 2), nil
}

func joinPhrase(a, b token) string {
	if a.han && b.han {
		return a.text + b.text
	}
	return a.text + " " + b.text
}

func top(counts map[string]int, n, min int) []Term {
	out := make([]Term, 0, len(counts))
	for t, c := range counts {
		if c >= min {
			out = append(out, Term{Text: t, Count: c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Text < out[j].Text
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// isStopLatin: too short, a number, or a word that carries no topic.
func isStopLatin(s string) bool {
	if utf8.RuneCountInString(s) < 2 {
		return true
	}
	digits := true
	for _, r := range s {
		if !unicode.IsDigit(r) {
			digits = false
			break
		}
	}
	return digits || stopEN[s]
}

// isStopHan: one character (mostly particles: 的, 了, 很) or a function
// word. Single characters that matter come as part of a dictionary word
// (不好, 太慢, 好用).
func isStopHan(s string) bool {
	return utf8.RuneCountInString(s) < 2 || stopZH[s]
}
