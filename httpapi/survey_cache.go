package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

// surveyCache keeps the surveys the answer paths read, by key. An entry is
// used only while its UpdatedAt equals the one the caller just read from
// the database with the delivery (every change of a survey sets it), so a
// changed survey is never served stale, whichever instance changed it.
// Entries are shared: nothing may modify a cached survey.
type surveyCache struct {
	mu sync.RWMutex
	m  map[string]*cachedSurvey
}

// maxCachedSurveys bounds the cache; surveys are few, so reaching it means
// something unusual and the cache simply starts over.
const maxCachedSurveys = 1024

type cachedSurvey struct {
	sv *store.Survey
	// texts are the survey's texts by locale, product filled in.
	texts sync.Map // string → survey.Text
}

// text is the survey's wording for a locale with the product filled in.
func (e *cachedSurvey) text(locale string) survey.Text {
	if t, ok := e.texts.Load(locale); ok {
		return t.(survey.Text)
	}
	t, _ := survey.TextFor(e.sv.Kind, e.sv.Texts, locale)
	t = t.WithProduct(e.sv.ProductName)
	e.texts.Store(locale, t)
	return t
}

// get returns the survey key as of updatedAt, reading it through st when
// the cache has no such version.
func (c *surveyCache) get(ctx context.Context, st *store.Store, key string, updatedAt time.Time) (*cachedSurvey, error) {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e != nil && e.sv.UpdatedAt.Equal(updatedAt) {
		return e, nil
	}
	sv, err := st.GetSurvey(ctx, key)
	if err != nil {
		return nil, err
	}
	e = &cachedSurvey{sv: sv}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSurveys {
		c.m = make(map[string]*cachedSurvey)
	}
	// A slower reader must not replace a newer version with an older one.
	if cur := c.m[key]; cur == nil || !cur.sv.UpdatedAt.After(sv.UpdatedAt) {
		c.m[key] = e
	}
	c.mu.Unlock()
	return e, nil
}
