package templates

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// cacheKey names a compiled override by what determines it: the part (which
// picks text/ or html/template) and the source. Accounts that save the same
// source share one entry; the hash keeps large sources out of the map.
func cacheKey(part, src string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(part))
	h.Write([]byte{0})
	h.Write([]byte(src))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// lru is a fixed-size least-recently-used cache of compiled templates, so
// the send path parses each override once while memory stays bounded however
// many accounts edit their templates.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front is most recent; values are *lruEntry
	items map[[sha256.Size]byte]*list.Element
}

type lruEntry struct {
	key [sha256.Size]byte
	c   *compiled
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[[sha256.Size]byte]*list.Element)}
}

func (l *lru) get(k [sha256.Size]byte) (*compiled, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*lruEntry).c, true
}

func (l *lru) add(k [sha256.Size]byte, c *compiled) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		// Two senders compiled the same source at once; keep the first.
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&lruEntry{key: k, c: c})
	for l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(*lruEntry).key)
	}
}

func (l *lru) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
