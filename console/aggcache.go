package console

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"pinset.dev/pinset/store"
)

// Report aggregates scan every report in the window (100,000 rows take
// over 100 ms on SQLite), so the reports page shows a snapshot: computed
// on first use, served from memory, and recomputed in the background once
// it is older than aggFresh (the page says when it was computed). The
// entries are bounded: filters come from the URL.
const (
	aggFresh      = 15 * time.Second
	aggMaxEntries = 64
	aggTimeout    = 30 * time.Second
)

type aggCache struct {
	st  store.Store
	now func() time.Time
	log *slog.Logger

	mu sync.Mutex
	m  map[string]*aggEntry
}

type aggEntry struct {
	ready      chan struct{} // closed once the first computation ended
	at         time.Time
	used       time.Time
	agg        store.Aggregates
	err        error
	refreshing bool
}

func newAggCache(st store.Store, now func() time.Time, log *slog.Logger) *aggCache {
	return &aggCache{st: st, now: now, log: log, m: map[string]*aggEntry{}}
}

func aggKey(q store.ReportQuery) string {
	return q.App + "\x00" + q.Host + "\x00" + q.Platform + "\x00" + q.AppVersion + "\x00" +
		strconv.FormatInt(q.Since.Unix(), 10) + "\x00" + strconv.FormatInt(q.Until.Unix(), 10)
}

// get returns the aggregates of q and when they were computed.
func (c *aggCache) get(ctx context.Context, q store.ReportQuery) (store.Aggregates, time.Time, error) {
	k := aggKey(q)
	now := c.now()
	c.mu.Lock()
	e := c.m[k]
	if e == nil {
		c.evict()
		e = &aggEntry{ready: make(chan struct{}), used: now}
		c.m[k] = e
		c.mu.Unlock()
		agg, err := c.st.Aggregate(ctx, q)
		c.mu.Lock()
		e.agg, e.err, e.at = agg, err, c.now()
		if err != nil {
			delete(c.m, k) // the next request tries again
		}
		close(e.ready)
		c.mu.Unlock()
		return agg, e.at, err
	}
	e.used = now
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return store.Aggregates{}, time.Time{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.err != nil {
		return store.Aggregates{}, time.Time{}, e.err
	}
	if now.Sub(e.at) >= aggFresh && !e.refreshing {
		e.refreshing = true
		go c.refresh(k, e, q)
	}
	return e.agg, e.at, nil
}

func (c *aggCache) refresh(k string, e *aggEntry, q store.ReportQuery) {
	ctx, cancel := context.WithTimeout(context.Background(), aggTimeout)
	defer cancel()
	agg, err := c.st.Aggregate(ctx, q)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if err != nil {
		c.log.Warn("console: refreshing report aggregates", "app", q.App, "err", err)
		return
	}
	e.agg, e.at = agg, c.now()
}

// evict drops the least recently used entry when the cache is full; mu
// is held.
func (c *aggCache) evict() {
	if len(c.m) < aggMaxEntries {
		return
	}
	var oldest string
	var at time.Time
	for k, e := range c.m {
		select {
		case <-e.ready:
		default:
			continue // being computed
		}
		if oldest == "" || e.used.Before(at) {
			oldest, at = k, e.used
		}
	}
	if oldest != "" {
		delete(c.m, oldest)
	}
}
