// Package zone loads IANA time zones by name, once per name.
//
// time.LoadLocation reads the zone database on every call (about 10µs and
// 16 allocations), and npsgate asks for the same few zones again and
// again: per contact in a fan-out, per request of the results API and the
// dashboard. Zone names also come from outside (imports, query strings),
// so what is kept of names that do not load is bounded.
package zone

import (
	"sync"
	"sync/atomic"
	"time"
)

var (
	loaded sync.Map // name → *time.Location, or error for a name that does not load
	// bad counts the names kept that do not load; the ones that do are
	// bounded by the zone database.
	bad atomic.Int64
)

// maxBad bounds the names kept that do not load.
const maxBad = 1024

// Load is time.LoadLocation, remembered: "" and "UTC" are UTC, "Local" is
// the host's zone.
func Load(name string) (*time.Location, error) {
	if v, ok := loaded.Load(name); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		if bad.Add(1) <= maxBad {
			loaded.Store(name, err)
		}
		return nil, err
	}
	loaded.Store(name, l)
	return l, nil
}

// Named loads a zone that a user named: an IANA name such as
// Asia/Shanghai, or UTC. "Local" is refused, since it would follow
// whatever TZ the host runs with, and two replicas could disagree.
func Named(name string) (*time.Location, bool) {
	if name == "Local" {
		return nil, false
	}
	l, err := Load(name)
	return l, err == nil
}
