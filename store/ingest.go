package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"pinset.dev/pinset/report"
)

// Ingestion under a storm. Every arrival is counted in the transaction that
// acknowledges it (group commit, batch.go), but a batch writes each distinct
// thing once: one count per (app, host, minute) in report_events, one per
// (app, host, served key, app version, platform, minute) in report_counts,
// one bump per dedup key in reports. Raw bodies are kept as a bounded
// sample per dedup key: the row holds the first arrival, report_samples
// the 2nd to SampleFirst-th and the latest (replaced at most once every
// sampleLatestEvery). So 10 million identical failures cost a few rows.

// SampleFirst is how many arrivals of one dedup key keep their raw body
// (the first in the report's row, the others in report_samples); the
// latest is kept as well.
const SampleFirst = 4

// sampleLatestEvery bounds how often the latest sample of a dedup key is
// rewritten: at most once per this much arrival time.
const sampleLatestEvery = time.Minute

// slotLatest is the report_samples slot of the latest arrival.
const slotLatest = 0

// ReportCount is one aggregate counter kept on ingest: the reports that
// arrived in one minute for one app, host, served key, app version and
// platform (duplicates and reports a quota refused included).
type ReportCount struct {
	Host       string    `json:"host"`
	ServedPin  string    `json:"served_pin"` // the presented chain's first certificate; "" when none
	AppVersion string    `json:"app_version"`
	Platform   string    `json:"platform"`
	Minute     time.Time `json:"minute"`
	Count      int64     `json:"count"`
}

// Sample is one raw body kept for a stored report.
type Sample struct {
	// Arrival is the body's arrival number (1 for the first, which the
	// report's row holds); 0 for the latest arrival, kept when later than
	// the first SampleFirst.
	Arrival  int64     `json:"arrival"`
	Received time.Time `json:"received"`
	Raw      []byte    `json:"-"`
}

// known remembers, in this process, how many arrivals each recently
// committed dedup key has, so that AddReport prepares a report for storage
// (the normalised JSON, the certificates cut out of its body) only when it
// may be stored or sampled. It is a hint: a key it lists whose row is gone
// (pruned, evicted, another process) is prepared in the batch instead.
type known struct {
	mu sync.Mutex
	n  map[string]int64
}

// maxKnown bounds known: when full it starts over.
const maxKnown = 100_000

func (k *known) arrivals(key string) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[key]
}

func (k *known) set(key string, n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil || len(k.n) >= maxKnown {
		k.n = make(map[string]int64)
	}
	k.n[key] = n
}

// servedPin is the served key a report is counted under: the pin of the
// first certificate of the chain it was presented.
func servedPin(r *report.Report) string {
	chain := r.ServedChain
	if len(chain) == 0 {
		chain = r.ValidatedChain
	}
	if len(chain) == 0 {
		return ""
	}
	return chain[0].Pin.String()
}

type eventKey struct {
	app, host string
	minute    int64
}

type countKey struct {
	app, host, pin, version, platform string
	minute                            int64
}

// countStmts are the upserts of the batch's arrival counters:
// report_events (the report-spike alert's) and report_counts (the
// aggregates), one per distinct key.
func countStmts(batch []*addReq) []stmt {
	events := map[eventKey]int64{}
	counts := map[countKey]int64{}
	var eorder []eventKey
	var corder []countKey
	for _, q := range batch {
		m := unix(q.now) / 60
		ek := eventKey{q.r.App, q.r.Host, m}
		if events[ek] == 0 {
			eorder = append(eorder, ek)
		}
		events[ek]++
		ck := countKey{q.r.App, q.r.Host, servedPin(q.r), q.r.AppVersion, q.r.Platform, m}
		if counts[ck] == 0 {
			corder = append(corder, ck)
		}
		counts[ck]++
	}
	// In a fixed order, so that two processes sharing a PostgreSQL
	// database lock rows alike.
	ss := make([]stmt, 0, len(eorder)+len(corder))
	for _, k := range eorder {
		ss = append(ss, stmt{q: `INSERT INTO report_events (app, host, minute, count) VALUES ($1, $2, $3, $4)
			ON CONFLICT (app, host, minute) DO UPDATE SET count = report_events.count + excluded.count`,
			args: []any{k.app, k.host, k.minute, events[k]}})
	}
	for _, k := range corder {
		ss = append(ss, stmt{q: `INSERT INTO report_counts (app, host, served_pin, app_version, platform, minute, count) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (app, host, served_pin, app_version, platform, minute) DO UPDATE SET count = report_counts.count + excluded.count`,
			args: []any{k.app, k.host, k.pin, k.version, k.platform, k.minute, counts[k]}})
	}
	return ss
}

// bumpReport counts n arrivals ($1, the latest at $2) on the tallies of the
// report of dedup key $3, if there is one. It writes only the narrow
// report_tallies row, and no indexed column but last_hour, which changes
// at most once an hour: on PostgreSQL a bump is a heap-only (HOT) update
// (migration 014).
const bumpReport = `UPDATE report_tallies SET ` + tallyBump + ` WHERE report_id = (SELECT id FROM reports WHERE dedup_key = $3)
	RETURNING report_id, count, sampled`

// tallyBump is the SET clause of every bump of a report's tallies: n
// arrivals ($1), the latest at $2 (Unix seconds).
const tallyBump = `count = count + $1, last_seen = $2, last_hour = CAST($2 AS BIGINT) / 3600`

// bumped is what countAndBump found for one group.
type bumped struct {
	ok     bool   // the dedup key had a row, which now counts the group
	res    addRes // for the group's first arrival
	before int64  // arrivals the row held before
}

// countAndBump counts the batch's arrivals (countStmts) and each group's
// arrivals on its dedup key's row, if it has one, all in one pipeline (one
// round trip on PostgreSQL). In a storm nearly every group is a repeat:
// this is all it costs, besides, now and then, a sample.
func countAndBump(ctx context.Context, c conn, batch []*addReq, groups [][]*addReq) ([]bumped, error) {
	out := make([]bumped, len(groups))
	ss := countStmts(batch)
	for i, g := range groups {
		n := int64(len(g))
		ss = append(ss, stmt{q: bumpReport, args: []any{n, unix(g[0].now), g[0].r.DedupKey}, scan: func(r row) error {
			b := &out[i]
			var count int64
			err := r.Scan(&b.res.id, &count, &b.res.sampled)
			if errors.Is(err, ErrNotFound) {
				return nil // a new key: insertReport
			}
			if err != nil {
				return err
			}
			b.ok, b.res.dup, b.res.count, b.before = true, true, count, count-n
			return nil
		}})
	}
	return out, runAll(ctx, c, ss)
}

// groupByKey splits a batch into its dedup keys, in order of first arrival.
func groupByKey(batch []*addReq) [][]*addReq {
	idx := map[string]int{}
	var out [][]*addReq
	for _, q := range batch {
		i, ok := idx[q.r.DedupKey]
		if !ok {
			i = len(out)
			idx[q.r.DedupKey] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], q)
	}
	return out
}

// storeGroup stores the arrivals of one dedup key in a batch, given what
// countAndBump found: unless they were counted on the key's row already, the
// first through insertReport (with the whole group's count); the others as
// its duplicates; then the raw samples the group adds.
func storeGroup(ctx context.Context, c conn, g []*addReq, b bumped, lim ReportLimits) ([]addRes, error) {
	res, before := b.res, b.before
	if !b.ok {
		var err error
		if res, before, err = insertReport(ctx, c, g[0], int64(len(g)), lim); err != nil {
			return nil, err
		}
	}
	out := make([]addRes, len(g))
	out[0] = res
	for i := 1; i < len(g); i++ {
		out[i] = addRes{id: res.id, dup: res.err == nil, err: res.err, count: res.count}
	}
	if res.err != nil || before < 0 {
		return out, nil
	}
	return out, storeSamples(ctx, c, res.id, before, res.sampled, g, lim)
}

// storeSamples keeps the raw bodies of the arrivals numbered before+1...
// (before arrivals were stored already) that fall in the first
// SampleFirst, and the group's last as the latest sample when it is past
// them and the stored latest is older than sampleLatestEvery. A sample the
// bytes quota has no room for is not kept (the arrival is counted all the
// same).
func storeSamples(ctx context.Context, c conn, id, before, sampled int64, g []*addReq, lim ReportLimits) error {
	for i, q := range g {
		n := before + int64(i) + 1 // arrival number, 1-based
		switch {
		case n == 1:
			continue // the row's own body
		case n <= SampleFirst:
			if err := putSample(ctx, c, id, n-1, q, lim, 0); err != nil {
				return err
			}
		case i == len(g)-1 && (sampled == 0 || unix(q.now)-sampled >= int64(sampleLatestEvery/time.Second)):
			var size int64
			err := c.queryRow(ctx, `SELECT size FROM report_samples WHERE report_id = $1 AND slot = $2`, id, slotLatest).Scan(&size)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := putSample(ctx, c, id, slotLatest, q, lim, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// putSample writes one sample into slot, replacing a sample of oldSize
// bytes, if the app's bytes quota has room.
func putSample(ctx context.Context, c conn, id, slot int64, q *addReq, lim ReportLimits, oldSize int64) error {
	p, err := q.prepared()
	if err != nil {
		return err
	}
	size := int64(len(p.template) + len(p.refs))
	for _, der := range p.certs {
		size += int64(len(der))
	}
	n, err := c.exec(ctx, `UPDATE report_usage SET n_bytes = n_bytes + $2 WHERE app = $1 AND n_bytes + $2 <= $3`, q.r.App, size-oldSize, lim.MaxBytes)
	if err != nil || n == 0 {
		return err
	}
	ss := certStmts(id, p.certs, q.now)
	ss = append(ss, stmt{q: `INSERT INTO report_samples (report_id, slot, received, raw, raw_refs, size) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (report_id, slot) DO UPDATE SET received = excluded.received, raw = excluded.raw, raw_refs = excluded.raw_refs, size = excluded.size`,
		args: []any{id, slot, unix(q.now), p.template, p.refs, size}})
	if slot == slotLatest {
		ss = append(ss, stmt{q: `UPDATE reports SET size = size + $2 WHERE id = $1`, args: []any{id, size - oldSize}},
			stmt{q: `UPDATE report_tallies SET sampled = $2 WHERE report_id = $1`, args: []any{id, unix(q.now)}})
	} else {
		ss = append(ss, stmt{q: `UPDATE reports SET size = size + $2 WHERE id = $1`, args: []any{id, size - oldSize}})
	}
	return runAll(ctx, c, ss)
}

// putCerts stores a report's certificates once each and refers to them
// from the report.
func putCerts(ctx context.Context, c conn, id int64, certs map[string][]byte, now time.Time) error {
	return runAll(ctx, c, certStmts(id, certs, now))
}

// certStmts are the statements of putCerts.
func certStmts(id int64, certs map[string][]byte, now time.Time) []stmt {
	ss := make([]stmt, 0, 2*len(certs)+2)
	for h, der := range certs {
		ss = append(ss,
			stmt{q: `INSERT INTO certificates (sha256, der, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`, args: []any{h, der, unix(now)}},
			stmt{q: `INSERT INTO report_certs (report_id, cert) VALUES ($1, $2) ON CONFLICT (report_id, cert) DO NOTHING`, args: []any{id, h}})
	}
	return ss
}

// prepared returns the report made ready for storage, preparing it now if
// AddReport did not (its dedup key was known to be stored).
func (q *addReq) prepared() (*preparedReport, error) {
	if q.prep == nil {
		p, err := prepareReport(q.r, q.raw)
		if err != nil {
			return nil, err
		}
		q.prep = p
	}
	return q.prep, nil
}

// MaxReportCounts bounds the rows one ReportCounts call returns.
const MaxReportCounts = 10_000

func (s *sqlStore) ReportCounts(ctx context.Context, app string, since, until time.Time, limit int) ([]ReportCount, error) {
	if limit <= 0 || limit > MaxReportCounts {
		limit = MaxReportCounts
	}
	rs, err := s.db.query(ctx, `SELECT host, served_pin, app_version, platform, minute, count FROM report_counts
		WHERE app = $1 AND minute >= $2 AND minute < $3 ORDER BY minute, host, served_pin, app_version, platform LIMIT `+strconv.Itoa(limit),
		app, unix(since)/60, (unix(until)+59)/60)
	return scanRows(rs, err, nil, func(r row) (ReportCount, error) {
		var c ReportCount
		var m int64
		err := r.Scan(&c.Host, &c.ServedPin, &c.AppVersion, &c.Platform, &m, &c.Count)
		c.Minute = fromUnix(m * 60)
		return c, err
	})
}

func (s *sqlStore) ReportSamples(ctx context.Context, id int64) ([]Sample, error) {
	var first int64
	if err := s.db.queryRow(ctx, `SELECT first_seen FROM reports WHERE id = $1`, id).Scan(&first); err != nil {
		return nil, err
	}
	raw, err := s.RawReport(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []Sample{{Arrival: 1, Received: fromUnix(first), Raw: raw}}
	rs, err := s.db.query(ctx, `SELECT slot, received, raw, raw_refs FROM report_samples WHERE report_id = $1 ORDER BY slot = 0, slot`, id)
	type stored struct {
		slot, received int64
		raw            []byte
		refs           string
	}
	ss, err := scanRows(rs, err, nil, func(r row) (stored, error) {
		var x stored
		err := r.Scan(&x.slot, &x.received, &x.raw, &x.refs)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	for _, x := range ss {
		b, err := rebuildStoredRaw(ctx, s.db, x.raw, x.refs)
		if err != nil {
			return nil, err
		}
		arrival := x.slot + 1
		if x.slot == slotLatest {
			arrival = 0
		}
		out = append(out, Sample{Arrival: arrival, Received: fromUnix(x.received), Raw: b})
	}
	return out, nil
}
