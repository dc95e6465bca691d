package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pinset.dev/pinset/report"
	"pinset.dev/pinset/tlog"
)

// The SQL below is shared by both backends: placeholders are $N (SQLite
// accepts them too), times are Unix seconds in integer columns and flags
// are 0/1 integers, so no type differs between the two.

// conn is what the shared SQL needs from a database or a transaction.
type conn interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// scanOne reads a row of one column.
func scanOne[T any](r row) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

// scanRows reads every row of a query with scan, appending to out (nil,
// or empty for a list that must encode as []), and closes the rows before
// it returns, so that the caller may run its next statement on the same
// connection. err is the query's own error: a call takes the result of
// conn.query whole. The first error of the query, a scan or the iteration
// is returned.
func scanRows[T any](rs rows, err error, out []T, scan func(r row) (T, error)) ([]T, error) {
	err = eachRow(rs, err, func(r row) error {
		v, err := scan(r)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachRow calls fn for every row of a query and closes the rows before it
// returns, as scanRows does, for a reader that does more with a row than
// append it to a list. The first error of the query, fn or the iteration
// is returned.
func eachRow(rs rows, err error, fn func(r row) error) error {
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := fn(rs); err != nil {
			return err
		}
	}
	rs.Close()
	return rs.Err()
}

// backend is one database: a conn plus transactions and lifecycle.
type backend interface {
	conn
	// inTx runs f in a write transaction that is committed when f returns
	// nil and rolled back otherwise.
	inTx(ctx context.Context, f func(c conn) error) error
	ping(ctx context.Context) error
	close() error
	name() string
}

// sqlStore implements Store over a backend.
type sqlStore struct {
	db     backend
	batch  *batcher
	limits ReportLimits
	drops  drops
	known  known // dedup keys committed by this process (ingest.go)
}

func newSQLStore(db backend, o options) *sqlStore {
	s := &sqlStore{db: db, limits: o.limits}
	s.batch = newBatcher(db, o.limits, &s.drops, &s.known)
	return s
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.ping(ctx) }
func (s *sqlStore) Close() error {
	s.batch.close()
	return s.db.close()
}
func (s *sqlStore) Backend() string { return s.db.name() }

func (s *sqlStore) Apps(ctx context.Context) ([]App, error) {
	rs, err := s.db.query(ctx, `SELECT id, root_version, manifest_version, created_at, updated_at FROM apps ORDER BY id`)
	return scanRows(rs, err, nil, func(r row) (App, error) {
		var a App
		var c, u int64
		err := r.Scan(&a.ID, &a.RootVersion, &a.ManifestVersion, &c, &u)
		a.CreatedAt, a.UpdatedAt = fromUnix(c), fromUnix(u)
		return a, err
	})
}

func (s *sqlStore) App(ctx context.Context, id string) (App, error) {
	a := App{ID: id}
	var c, u int64
	err := s.db.queryRow(ctx, `SELECT root_version, manifest_version, created_at, updated_at FROM apps WHERE id = $1`, id).
		Scan(&a.RootVersion, &a.ManifestVersion, &c, &u)
	if err != nil {
		return App{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromUnix(c), fromUnix(u)
	return a, nil
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// publishable refuses a document whose version is not above prev
// (ErrConflict) or has no CreatedAt, and returns the time it is stored as
// created at.
func publishable(kind string, d Document, prev int64) (time.Time, error) {
	if d.Version <= prev {
		return time.Time{}, fmt.Errorf("%s version %d is not above %d: %w", kind, d.Version, prev, ErrConflict)
	}
	if d.CreatedAt.IsZero() {
		// The store never reads the clock: the caller says when.
		return time.Time{}, fmt.Errorf("%s version %d: no publication time (Document.CreatedAt)", kind, d.Version)
	}
	return d.CreatedAt, nil
}

func (s *sqlStore) PublishRoot(ctx context.Context, d Document, prev int64) error {
	now, err := publishable("root", d, prev)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, func(c conn) error {
		if prev == 0 {
			n, err := c.exec(ctx, `INSERT INTO apps (id, root_version, manifest_version, created_at, updated_at)
				VALUES ($1, 0, 0, $2, $2) ON CONFLICT (id) DO NOTHING`, d.App, unix(now))
			if err != nil {
				return err
			}
			_ = n
		}
		n, err := c.exec(ctx, `UPDATE apps SET root_version = $1, updated_at = $2 WHERE id = $3 AND root_version = $4`,
			d.Version, unix(now), d.App, prev)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("app %q root: %w", d.App, ErrConflict)
		}
		_, err = c.exec(ctx, `INSERT INTO roots (app, version, body, sha256, expires, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			d.App, d.Version, d.Body, digest(d.Body), unix(d.Expires), unix(now))
		if err != nil {
			return err
		}
		return appendLog(ctx, c, d.App, tlog.KindRoot, d.Version, d.Body, now)
	})
}

func (s *sqlStore) scanDoc(r row, app string, manifest bool) (Document, error) {
	d := Document{App: app}
	var issued, exp, created int64
	var err error
	if manifest {
		err = r.Scan(&d.Version, &d.RootVersion, &d.Body, &d.SHA256, &issued, &exp, &d.Source, &created)
	} else {
		err = r.Scan(&d.Version, &d.Body, &d.SHA256, &exp, &created)
	}
	if err != nil {
		return Document{}, err
	}
	d.IssuedAt, d.Expires, d.CreatedAt = fromUnix(issued), fromUnix(exp), fromUnix(created)
	return d, nil
}

func (s *sqlStore) Root(ctx context.Context, app string, version int64) (Document, error) {
	return s.scanDoc(s.db.queryRow(ctx, `SELECT version, body, sha256, expires, created_at FROM roots WHERE app = $1 AND version = $2`,
		app, version), app, false)
}

func (s *sqlStore) LatestRoot(ctx context.Context, app string) (Document, error) {
	return s.scanDoc(s.db.queryRow(ctx, `SELECT r.version, r.body, r.sha256, r.expires, r.created_at
		FROM roots r JOIN apps a ON a.id = r.app AND a.root_version = r.version WHERE r.app = $1`, app), app, false)
}

func (s *sqlStore) PublishManifest(ctx context.Context, d Document, prev int64) error {
	now, err := publishable("manifest", d, prev)
	if err != nil {
		return err
	}
	if d.Source == "" {
		d.Source = "publish"
	}
	return s.db.inTx(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE apps SET manifest_version = $1, updated_at = $2 WHERE id = $3 AND manifest_version = $4`,
			d.Version, unix(now), d.App, prev)
		if err != nil {
			return err
		}
		if n != 1 {
			if _, err := manifestVersionOf(ctx, c, d.App); errors.Is(err, ErrNotFound) {
				return fmt.Errorf("app %q: publish a root first: %w", d.App, ErrNotFound)
			}
			return fmt.Errorf("app %q manifest: %w", d.App, ErrConflict)
		}
		_, err = c.exec(ctx, `INSERT INTO manifests (app, version, root_version, body, sha256, issued_at, expires, source, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			d.App, d.Version, d.RootVersion, d.Body, digest(d.Body), unix(d.IssuedAt), unix(d.Expires), d.Source, unix(now))
		if err != nil {
			return err
		}
		return appendLog(ctx, c, d.App, tlog.KindManifest, d.Version, d.Body, now)
	})
}

func manifestVersionOf(ctx context.Context, c conn, id string) (int64, error) {
	var v int64
	err := c.queryRow(ctx, `SELECT manifest_version FROM apps WHERE id = $1`, id).Scan(&v)
	return v, err
}

const manifestCols = `m.version, m.root_version, m.body, m.sha256, m.issued_at, m.expires, m.source, m.created_at`

func (s *sqlStore) Manifest(ctx context.Context, app string) (Document, error) {
	return s.scanDoc(s.db.queryRow(ctx, `SELECT `+manifestCols+`
		FROM manifests m JOIN apps a ON a.id = m.app AND a.manifest_version = m.version WHERE m.app = $1`, app), app, true)
}

func (s *sqlStore) ManifestVersion(ctx context.Context, app string, version int64) (Document, error) {
	return s.scanDoc(s.db.queryRow(ctx, `SELECT `+manifestCols+` FROM manifests m WHERE m.app = $1 AND m.version = $2`,
		app, version), app, true)
}

func (s *sqlStore) Manifests(ctx context.Context, app string) ([]Document, error) {
	rs, err := s.db.query(ctx, `SELECT m.version, m.root_version, m.sha256, m.issued_at, m.expires, m.source, m.created_at
		FROM manifests m WHERE m.app = $1 ORDER BY m.version DESC`, app)
	return scanRows(rs, err, nil, func(r row) (Document, error) {
		d := Document{App: app}
		var issued, exp, created int64
		err := r.Scan(&d.Version, &d.RootVersion, &d.SHA256, &issued, &exp, &d.Source, &created)
		d.IssuedAt, d.Expires, d.CreatedAt = fromUnix(issued), fromUnix(exp), fromUnix(created)
		return d, err
	})
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func joinPins(r *report.Report) string {
	ps := r.PresentedPins()
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return strings.Join(ss, ",")
}

func (s *sqlStore) AddReport(ctx context.Context, r *report.Report, raw []byte, now time.Time) (int64, bool, error) {
	if raw == nil {
		raw = []byte{}
	}
	req := &addReq{r: r, raw: raw, now: now, res: make(chan addRes, 1)}
	// A report whose dedup key holds all its first samples already is
	// only counted: it is prepared (in the batch) only if its row is gone
	// or it becomes the latest sample.
	if s.known.arrivals(r.DedupKey) < SampleFirst {
		if _, err := req.prepared(); err != nil {
			return 0, false, err
		}
	}
	return s.batch.add(ctx, req)
}

// fetchCerts reads certificates by hex SHA-256.
func fetchCerts(ctx context.Context, c conn, hashes []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	var todo []string
	seen := map[string]bool{}
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			todo = append(todo, h)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), 500)
		ph := make([]string, n)
		args := make([]any, n)
		for i := range n {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args[i] = todo[i]
		}
		rs, err := c.query(ctx, `SELECT sha256, der FROM certificates WHERE sha256 IN (`+strings.Join(ph, ",")+`)`, args...)
		err = eachRow(rs, err, func(r row) error {
			var h string
			var der []byte
			err := r.Scan(&h, &der)
			out[h] = der
			return err
		})
		if err != nil {
			return nil, err
		}
		todo = todo[n:]
	}
	return out, nil
}

// where builds the filter of a report query.
func (q ReportQuery) where() (string, []any) { return q.whereTime("report_time") }

// whereTime is where with the report time spelled t: Aggregate spells it
// "+report_time", which keeps SQLite from choosing the index on
// (app, report_time) over the covering index reports_app_agg (migration
// 007); PostgreSQL reads it as the column.
func (q ReportQuery) whereTime(t string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if q.App != "" {
		add("app = $%d", q.App)
	}
	if q.Host != "" {
		add("host = $%d", q.Host)
	}
	if q.Platform != "" {
		add("platform = $%d", strings.ToUpper(q.Platform))
	}
	if q.AppVersion != "" {
		add("app_version = $%d", q.AppVersion)
	}
	if !q.Since.IsZero() {
		add(t+" >= $%d", q.Since.Unix())
	}
	if !q.Until.IsZero() {
		add(t+" < $%d", q.Until.Unix())
	}
	if q.BeforeID > 0 {
		add("id < $%d", q.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (s *sqlStore) Reports(ctx context.Context, q ReportQuery) ([]StoredReport, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	w, args := q.where()
	order := "report_time"
	if q.Host != "" {
		// One host's reports: found by (app, host) and sorted, not by
		// walking every report of the app in time order (the unary plus
		// keeps SQLite from choosing the index on (app, report_time) for
		// either; PostgreSQL reads it as the column).
		w, args = q.whereTime("+report_time")
		order = "+report_time"
	}
	rs, err := s.db.query(ctx, `SELECT id, count, first_seen, last_seen, normalized FROM reports JOIN report_tallies ON report_id = id`+w+
		fmt.Sprintf(` ORDER BY %s DESC, id DESC LIMIT %d`, order, limit), args...)
	var refs []string
	out, err := scanRows(rs, err, []StoredReport{}, func(r row) (StoredReport, error) {
		var sr StoredReport
		var first, last int64
		var norm string
		if err := r.Scan(&sr.ID, &sr.Count, &first, &last, &norm); err != nil {
			return sr, err
		}
		if err := json.Unmarshal([]byte(norm), &sr.Report); err != nil {
			return sr, fmt.Errorf("report %d: %w", sr.ID, err)
		}
		sr.FirstSeen, sr.LastSeen = fromUnix(first), fromUnix(last)
		refs = append(refs, certRefs(&sr.Report)...)
		return sr, nil
	})
	if err != nil {
		return nil, err
	}
	certs, err := fetchCerts(ctx, s.db, refs)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := resolveCerts(&out[i].Report, certs); err != nil {
			return nil, fmt.Errorf("report %d: %w", out[i].ID, err)
		}
	}
	return out, nil
}

func (s *sqlStore) RawReport(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	var refs string
	if err := s.db.queryRow(ctx, `SELECT raw, raw_refs FROM reports WHERE id = $1`, id).Scan(&raw, &refs); err != nil {
		return nil, err
	}
	raw, err := rebuildStoredRaw(ctx, s.db, raw, refs)
	if err != nil {
		return nil, fmt.Errorf("report %d: %w", id, err)
	}
	return raw, nil
}

// rebuildStoredRaw puts the certificates cut out of a stored body back.
func rebuildStoredRaw(ctx context.Context, c conn, template []byte, refs string) ([]byte, error) {
	hashes, err := refCerts(refs)
	if err != nil {
		return nil, err
	}
	certs, err := fetchCerts(ctx, c, hashes)
	if err != nil {
		return nil, err
	}
	return rebuildRaw(template, refs, certs)
}

func (s *sqlStore) Aggregate(ctx context.Context, q ReportQuery) (Aggregates, error) {
	q.BeforeID = 0
	w, args := q.whereTime("+report_time")
	// One text column instead of four: the driver's per-column cost
	// dominates a scan of 100,000 rows. Host names (normalised) and pins
	// (base64, commas) hold no space; the platform and app version, which
	// come from clients, follow the platform's length, so that no value
	// can shift another (splitAggKey).
	rs, err := s.db.query(ctx, `SELECT host || ' ' || presented_pins || ' ' || length(platform) || ' ' || platform || app_version,
		report_time, count FROM reports JOIN report_tallies ON report_id = id`+w, args...)
	if err != nil {
		return Aggregates{}, err
	}
	defer rs.Close()
	byHost, byPin, byVer, byPlat := map[string]*Count{}, map[string]*Count{}, map[string]*Count{}, map[string]*Count{}
	byDay := map[int64]*Count{} // UTC days since the epoch
	var agg Aggregates
	bump := func(m map[string]*Count, k string, n int64) {
		c := m[k]
		if c == nil {
			c = &Count{Key: k}
			m[k] = c
		}
		c.Reports++
		c.Events += n
	}
	var last string
	var lastSplit []string
	for rs.Next() {
		var key string
		var t, n int64
		if err := rs.Scan(&key, &t, &n); err != nil {
			return Aggregates{}, err
		}
		host, pins, plat, ver, err := splitAggKey(key)
		if err != nil {
			return Aggregates{}, err
		}
		agg.Total.Reports++
		agg.Total.Events += n
		bump(byHost, host, n)
		bump(byVer, ver, n)
		bump(byPlat, plat, n)
		day := t / 86400
		if t < 0 && t%86400 != 0 {
			day--
		}
		c := byDay[day]
		if c == nil {
			c = &Count{Key: time.Unix(day*86400, 0).UTC().Format("2006-01-02")}
			byDay[day] = c
		}
		c.Reports++
		c.Events += n
		if pins != last || lastSplit == nil {
			last, lastSplit = pins, uniqueSplit(pins)
		}
		for _, p := range lastSplit {
			bump(byPin, p, n)
		}
	}
	if err := rs.Err(); err != nil {
		return Aggregates{}, err
	}
	days := make(map[string]*Count, len(byDay))
	for _, c := range byDay {
		days[c.Key] = c
	}
	agg.Total.Key = "all"
	agg.ByHost, agg.ByPin, agg.ByAppVersion = sorted(byHost, false), sorted(byPin, false), sorted(byVer, false)
	agg.ByPlatform = sorted(byPlat, false)
	agg.ByDay = sorted(days, true)
	return agg, nil
}

// splitAggKey splits Aggregate's combined column: host, pins, the
// platform's length in characters, then platform and app version.
func splitAggKey(k string) (host, pins, plat, ver string, err error) {
	host, rest, ok1 := strings.Cut(k, " ")
	pins, rest, ok2 := strings.Cut(rest, " ")
	num, rest, ok3 := strings.Cut(rest, " ")
	n, err := strconv.Atoi(num)
	if !ok1 || !ok2 || !ok3 || err != nil || n < 0 {
		return "", "", "", "", fmt.Errorf("store: aggregate row %q: malformed", k)
	}
	i := 0
	for range n {
		if i >= len(rest) {
			return "", "", "", "", fmt.Errorf("store: aggregate row %q: platform length %d", k, n)
		}
		_, size := utf8.DecodeRuneInString(rest[i:])
		i += size
	}
	return host, pins, rest[:i], rest[i:], nil
}

// uniqueSplit splits a stored comma-separated pin list, each pin once.
func uniqueSplit(pins string) []string {
	var out []string
	for _, p := range strings.Split(pins, ",") {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func sorted(m map[string]*Count, byKey bool) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !byKey && out[i].Events != out[j].Events {
			return out[i].Events > out[j].Events
		}
		return out[i].Key < out[j].Key
	})
	return out
}

func (s *sqlStore) AddToken(ctx context.Context, name string, hash TokenHash, now time.Time) error {
	if name == "" {
		return errors.New("a token needs a name")
	}
	n, err := s.db.exec(ctx, `INSERT INTO tokens (name, hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, hex.EncodeToString(hash[:]), unix(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("token %q: %w", name, ErrExists)
	}
	return nil
}

func (s *sqlStore) Tokens(ctx context.Context) ([]Token, error) {
	rs, err := s.db.query(ctx, `SELECT name, created_at, COALESCE(revoked_at, 0) FROM tokens ORDER BY created_at, name`)
	return scanRows(rs, err, nil, func(r row) (Token, error) {
		var t Token
		var c, rv int64
		err := r.Scan(&t.Name, &c, &rv)
		t.CreatedAt, t.RevokedAt = fromUnix(c), fromUnix(rv)
		return t, err
	})
}

func (s *sqlStore) RevokeToken(ctx context.Context, name string, now time.Time) error {
	n, err := s.db.exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, unix(now), name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("token %q: %w (unknown or already revoked)", name, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) CheckToken(ctx context.Context, secret string) (string, error) {
	rs, err := s.db.query(ctx, `SELECT name, hash FROM tokens WHERE revoked_at IS NULL`)
	var names, hashes []string
	err = eachRow(rs, err, func(r row) error {
		var n, h string
		err := r.Scan(&n, &h)
		names, hashes = append(names, n), append(hashes, h)
		return err
	})
	if err != nil {
		return "", err
	}
	if name, ok := matchToken(secret, names, hashes); ok {
		return name, nil
	}
	return "", ErrNotFound
}

func (s *sqlStore) AddProbeResults(ctx context.Context, results []ProbeResult) error {
	return s.db.inTx(ctx, func(c conn) error {
		for _, r := range results {
			detail := r.Detail
			if len(detail) == 0 {
				detail = []byte("{}")
			}
			if !json.Valid(detail) {
				return fmt.Errorf("probe result %s %s: detail is not JSON", r.Host, r.Addr)
			}
			if _, err := c.exec(ctx, `INSERT INTO probe_results (app, host, port, addr, time, ok, not_after, covered, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.App, r.Host, int64(r.Port), r.Addr, unix(r.Time), b2i(r.OK),
				unix(r.NotAfter), b2i(r.Covered), string(detail)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) ProbeResults(ctx context.Context, host string, since time.Time, limit int) ([]ProbeResult, error) {
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT app, host, port, addr, time, ok, not_after, covered, detail FROM probe_results WHERE time >= $1`
	args := []any{unix(since)}
	if host != "" {
		q += ` AND host = $2`
		args = append(args, host)
	}
	rs, err := s.db.query(ctx, q+fmt.Sprintf(` ORDER BY time DESC, id DESC LIMIT %d`, limit), args...)
	return scanRows(rs, err, nil, scanProbeResult)
}

// scanProbeResult reads a row of probe_results' columns app, host, port,
// addr, time, ok, not_after, covered and detail.
func scanProbeResult(row row) (ProbeResult, error) {
	var r ProbeResult
	var port, t, ok, na, cov int64
	var detail string
	err := row.Scan(&r.App, &r.Host, &port, &r.Addr, &t, &ok, &na, &cov, &detail)
	r.Port, r.Time, r.OK, r.NotAfter, r.Covered, r.Detail = int(port), fromUnix(t), ok == 1, fromUnix(na), cov == 1, []byte(detail)
	return r, err
}
