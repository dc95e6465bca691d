package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Report storage is bounded per app: a number of stored reports (rows), a
// number of bytes, and a retention time. When a new report does not fit,
// the store gives up what is least worth keeping, in this order:
//
//  1. the new report is a repeat of a failure already stored (same
//     fingerprint: the dedup key without its day): it is counted on the
//     newest row of that failure instead of getting its own row
//     (reason "duplicate");
//  2. stored repeats (rows whose failure has a newer row) are deleted,
//     oldest first, until the new report fits (reason "evicted_repeat");
//  3. otherwise the new report is refused with a *QuotaError (reason
//     "quota_rows" or "quota_bytes").
//
// Reports not seen for Retention are deleted (reason "retention"). Every
// drop is counted ([Store.ReportDrops], exported by [Collector] as
// pinset_reports_dropped_total{reason}). Arrivals are counted per minute
// whatever happens to the report, so the report-spike alert keeps counting
// when a quota is full.

// Defaults of [ReportLimits].
const (
	DefaultReportMaxRows        = 100_000
	DefaultReportMaxBytes       = 256 << 20 // 256 MiB
	DefaultReportRetention      = 90 * 24 * time.Hour
	DefaultReportEventRetention = 7 * 24 * time.Hour
)

// ReportLimits bound the reports of each app. Zero fields take the
// defaults; a negative MaxRows or MaxBytes means no limit.
type ReportLimits struct {
	MaxRows  int64 // stored reports per app (DefaultReportMaxRows)
	MaxBytes int64 // bytes per app: raw body, normalised JSON, certificates (DefaultReportMaxBytes)
	// Retention: reports whose last arrival is older are deleted
	// (DefaultReportRetention).
	Retention time.Duration
	// EventRetention: per-minute arrival counts older than this are
	// deleted (DefaultReportEventRetention). Keep it above the longest
	// report-spike window.
	EventRetention time.Duration
}

func (l ReportLimits) withDefaults() ReportLimits {
	if l.MaxRows == 0 {
		l.MaxRows = DefaultReportMaxRows
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultReportMaxBytes
	}
	if l.MaxRows < 0 {
		l.MaxRows = 1 << 62
	}
	if l.MaxBytes < 0 {
		l.MaxBytes = 1 << 62
	}
	if l.Retention <= 0 {
		l.Retention = DefaultReportRetention
	}
	if l.EventRetention <= 0 {
		l.EventRetention = DefaultReportEventRetention
	}
	return l
}

// Option configures Open, OpenSQLite and OpenPostgres.
type Option func(*options)

type options struct {
	limits ReportLimits
}

// WithReportLimits sets the per-app report quotas and retention.
func WithReportLimits(l ReportLimits) Option {
	return func(o *options) { o.limits = l }
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	o.limits = o.limits.withDefaults()
	return o
}

// Reasons a report, or a stored report, is dropped: the label values of
// pinset_reports_dropped_total. The set is fixed.
const (
	DropDuplicate     = "duplicate"      // quota full: a repeat of a stored failure counted on that row, not stored
	DropEvictedRepeat = "evicted_repeat" // quota full: a stored repeat deleted to make room
	DropQuotaRows     = "quota_rows"     // refused: the app's row quota is full
	DropQuotaBytes    = "quota_bytes"    // refused: the app's bytes quota is full
	DropRetention     = "retention"      // deleted after the retention time
)

// DropReasons lists every drop reason, in a fixed order.
var DropReasons = []string{DropDuplicate, DropEvictedRepeat, DropQuotaRows, DropQuotaBytes, DropRetention}

// ErrQuota is wrapped by the *QuotaError AddReport returns for a report it
// refused because its app's quota is full.
var ErrQuota = errors.New("report quota full")

// QuotaError says which quota refused a report.
type QuotaError struct {
	App    string
	Reason string // DropQuotaRows or DropQuotaBytes
	Limit  int64
}

func (e *QuotaError) Error() string {
	what := "stored reports"
	if e.Reason == DropQuotaBytes {
		what = "bytes of reports"
	}
	return fmt.Sprintf("app %q holds its limit of %d %s and none is a repeat that could make room: report not stored (its arrival is counted)", e.App, e.Limit, what)
}

func (e *QuotaError) Unwrap() error { return ErrQuota }

// drops counts drops in this process.
type drops struct {
	mu sync.Mutex
	n  map[string]int64
}

func (d *drops) add(m map[string]int64) {
	if len(m) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]int64{}
	}
	for k, v := range m {
		d.n[k] += v
	}
}

func (d *drops) snapshot() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int64, len(DropReasons))
	for _, r := range DropReasons {
		out[r] = d.n[r]
	}
	return out
}

// Usage is what an app's stored reports hold.
type Usage struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// maxEvictions bounds the stored repeats deleted for one new report.
const maxEvictions = 64

// insertReport stores one report whose dedup key had no row when the batch
// counted its repeats (countAndBump), with n arrivals of its dedup key (the
// batch's), inside a transaction. err is a database error (the transaction
// fails); a report refused by its quota is res.err, with the transaction
// going on (any eviction is kept). before is how many arrivals the report's
// row held before (0 for a new row), or -1 when its arrivals went to no row
// of its own (refused, or counted on a repeat of the same failure).
func insertReport(ctx context.Context, c conn, q *addReq, n int64, lim ReportLimits) (res addRes, before int64, err error) {
	r := q.r
	now := unix(q.now)
	res.drops = map[string]int64{}
	var count int64
	p, err := q.prepared()
	if err != nil {
		return res, -1, err
	}
	if _, err := c.exec(ctx, `INSERT INTO report_usage (app, n_rows, n_bytes) VALUES ($1, 0, 0) ON CONFLICT (app) DO NOTHING`, r.App); err != nil {
		return res, -1, err
	}
	admit := func() (bool, error) {
		n, err := c.exec(ctx, `UPDATE report_usage SET n_rows = n_rows + 1, n_bytes = n_bytes + $2
			WHERE app = $1 AND n_rows + 1 <= $3 AND n_bytes + $2 <= $4`, r.App, p.size, lim.MaxRows, lim.MaxBytes)
		return n == 1, err
	}
	ok, err := admit()
	if err != nil {
		return res, -1, err
	}
	if !ok {
		// 1. A repeat of a stored failure is counted on its newest row.
		var id int64
		err := c.queryRow(ctx, `UPDATE report_tallies SET `+tallyBump+` WHERE report_id = (SELECT r.id FROM reports r
			JOIN report_tallies t ON t.report_id = r.id WHERE r.app = $3 AND r.fingerprint = $4 ORDER BY t.last_seen DESC, r.id DESC LIMIT 1)
			RETURNING report_id`, n, now, r.App, p.fingerprint).Scan(&id)
		if err == nil {
			res.id, res.dup = id, true
			res.drops[DropDuplicate] += n
			return res, -1, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return res, -1, err
		}
		// 2. Stored repeats go, oldest first.
		for i := 0; i < maxEvictions && !ok; i++ {
			var victim int64
			err := c.queryRow(ctx, `SELECT r.id FROM reports r JOIN report_tallies rt ON rt.report_id = r.id WHERE r.app = $1 AND EXISTS (
					SELECT 1 FROM reports n JOIN report_tallies nt ON nt.report_id = n.id WHERE n.app = r.app AND n.fingerprint = r.fingerprint
					AND (nt.last_seen > rt.last_seen OR (nt.last_seen = rt.last_seen AND n.id > r.id)))
				ORDER BY rt.last_seen, r.id LIMIT 1`, r.App).Scan(&victim)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return res, -1, err
			}
			if err := deleteReport(ctx, c, victim); err != nil {
				return res, -1, err
			}
			res.drops[DropEvictedRepeat]++
			if ok, err = admit(); err != nil {
				return res, -1, err
			}
		}
		// 3. Refused.
		if !ok {
			qe := &QuotaError{App: r.App, Reason: DropQuotaBytes, Limit: lim.MaxBytes}
			var rows int64
			if err := c.queryRow(ctx, `SELECT n_rows FROM report_usage WHERE app = $1`, r.App).Scan(&rows); err != nil {
				return res, -1, err
			}
			if rows+1 > lim.MaxRows {
				qe.Reason, qe.Limit = DropQuotaRows, lim.MaxRows
			}
			res.drops[qe.Reason] += n
			res.err = qe
			return res, -1, nil
		}
	}
	var id int64
	err = c.queryRow(ctx, `INSERT INTO reports (app, host, port, platform, app_version, format, validation_result, enforce,
			report_time, first_seen, dedup_key, presented_pins, normalized, raw, fingerprint, raw_refs, size)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (dedup_key) DO NOTHING
		RETURNING id`,
		r.App, r.Host, int64(r.Port), r.Platform, r.AppVersion, r.Format, int64(r.ValidationResult), b2i(r.Enforce),
		unix(r.Time), now, r.DedupKey, joinPins(r), p.norm, p.template, p.fingerprint, p.refs, p.size).Scan(&id)
	if errors.Is(err, ErrNotFound) {
		// Another process stored the same dedup key meanwhile.
		if _, err := c.exec(ctx, `UPDATE report_usage SET n_rows = n_rows - 1, n_bytes = n_bytes - $2 WHERE app = $1`, r.App, p.size); err != nil {
			return res, -1, err
		}
		err := c.queryRow(ctx, bumpReport, n, now, r.DedupKey).Scan(&res.id, &count, &res.sampled)
		res.dup, res.count = true, count
		return res, count - n, err
	}
	if err != nil {
		return res, -1, err
	}
	if _, err := c.exec(ctx, `INSERT INTO report_tallies (report_id, count, last_seen, last_hour, sampled) VALUES ($1, $2, $3, CAST($3 AS BIGINT) / 3600, 0)`,
		id, n, now); err != nil {
		return res, -1, err
	}
	if err := putCerts(ctx, c, id, p.certs, q.now); err != nil {
		return res, -1, err
	}
	res.id, res.count = id, n
	return res, 0, nil
}

// deleteReport deletes one stored report, its certificate references and
// the certificates no other report refers to, and gives its space back to
// its app's quota.
func deleteReport(ctx context.Context, c conn, id int64) error {
	var app string
	var size int64
	if err := c.queryRow(ctx, `SELECT app, size FROM reports WHERE id = $1`, id).Scan(&app, &size); err != nil {
		return err
	}
	rs, err := c.query(ctx, `SELECT cert FROM report_certs WHERE report_id = $1`, id)
	certs, err := scanRows(rs, err, nil, scanOne[string])
	if err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM report_certs WHERE report_id = $1`, `DELETE FROM report_samples WHERE report_id = $1`,
		`DELETE FROM report_tallies WHERE report_id = $1`, `DELETE FROM reports WHERE id = $1`} {
		if _, err := c.exec(ctx, q, id); err != nil {
			return err
		}
	}
	if _, err := c.exec(ctx, `UPDATE report_usage SET n_rows = n_rows - 1, n_bytes = n_bytes - $2 WHERE app = $1`, app, size); err != nil {
		return err
	}
	for _, h := range certs {
		if _, err := c.exec(ctx, `DELETE FROM certificates WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM report_certs WHERE cert = $1)`, h); err != nil {
			return err
		}
	}
	return nil
}

// pruneBatch bounds the reports one prune deletes, so that a prune inside
// a report transaction stays short; the next prune goes on.
const pruneBatch = 500

// prune deletes reports whose last arrival is older than the retention
// and arrival counts older than the event retention.
func prune(ctx context.Context, c conn, now time.Time, lim ReportLimits) (int64, error) {
	// last_hour (last_seen / 3600, rounded as both databases and Go
	// round) is what the index holds: last_seen < cutoff implies
	// last_hour <= cutoff / 3600.
	cutoff := unix(now.Add(-lim.Retention))
	rs, err := c.query(ctx, `SELECT report_id FROM report_tallies WHERE last_hour <= $2 AND last_seen < $1
		ORDER BY last_seen, report_id LIMIT `+fmt.Sprint(pruneBatch), cutoff, cutoff/3600)
	ids, err := scanRows(rs, err, nil, scanOne[int64])
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := deleteReport(ctx, c, id); err != nil {
			return 0, err
		}
	}
	for _, q := range []string{`DELETE FROM report_events WHERE minute < $1`, `DELETE FROM report_counts WHERE minute < $1`} {
		if _, err := c.exec(ctx, q, unix(now.Add(-lim.EventRetention))/60); err != nil {
			return 0, err
		}
	}
	return int64(len(ids)), nil
}

// PruneReports deletes the reports past their retention (at most a batch
// per call; it returns how many) and old arrival counts. The store also
// prunes on its own, at most once a minute, when reports arrive.
func (s *sqlStore) PruneReports(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.inTx(ctx, func(c conn) error {
		var err error
		n, err = prune(ctx, c, now, s.limits)
		return err
	})
	if err == nil {
		s.drops.add(map[string]int64{DropRetention: n})
	}
	return n, err
}

func (s *sqlStore) ReportDrops() map[string]int64 { return s.drops.snapshot() }

func (s *sqlStore) ReportUsage(ctx context.Context, app string) (Usage, error) {
	var u Usage
	err := s.db.queryRow(ctx, `SELECT n_rows, n_bytes FROM report_usage WHERE app = $1`, app).Scan(&u.Rows, &u.Bytes)
	if errors.Is(err, ErrNotFound) {
		return Usage{}, nil
	}
	return u, err
}

func (s *sqlStore) ReportEvents(ctx context.Context, app string, since, until time.Time) (map[string]int64, error) {
	rs, err := s.db.query(ctx, `SELECT host, CAST(SUM(count) AS BIGINT) FROM report_events WHERE app = $1 AND minute >= $2 AND minute < $3 GROUP BY host`,
		app, unix(since)/60, (unix(until)+59)/60)
	out := map[string]int64{}
	err = eachRow(rs, err, func(r row) error {
		var host string
		var n int64
		err := r.Scan(&host, &n)
		out[host] = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
