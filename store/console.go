package store

import (
	"context"
	"time"
)

// ProbeStore reads the monitor's probe history per app, for the web
// console: the newest round and a timeline, both by index (app, time)
// (migration 006), so their cost does not grow with other apps' history.
type ProbeStore interface {
	// LatestProbes returns the rows of app's newest monitor round (the
	// monitor stores one round of an app under one time), sorted by host,
	// port and address; nil when the app was never probed.
	LatestProbes(ctx context.Context, app string) ([]ProbeResult, error)
	// ProbeTimeline returns app's results at or after since without
	// their detail, oldest first, at most limit rows (0: 100000).
	ProbeTimeline(ctx context.Context, app string, since time.Time, limit int) ([]ProbeResult, error)
}

func (s *sqlStore) LatestProbes(ctx context.Context, app string) ([]ProbeResult, error) {
	var latest *int64
	if err := s.db.queryRow(ctx, `SELECT MAX(time) FROM probe_results WHERE app = $1`, app).Scan(&latest); err != nil {
		return nil, err
	}
	if latest == nil {
		return nil, nil
	}
	rs, err := s.db.query(ctx, `SELECT app, host, port, addr, time, ok, not_after, covered, detail FROM probe_results
		WHERE app = $1 AND time = $2 ORDER BY host, port, addr, id`, app, *latest)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []ProbeResult
	for rs.Next() {
		var r ProbeResult
		var port, t, ok, na, cov int64
		var detail string
		if err := rs.Scan(&r.App, &r.Host, &port, &r.Addr, &t, &ok, &na, &cov, &detail); err != nil {
			return nil, err
		}
		r.Port, r.Time, r.OK, r.NotAfter, r.Covered, r.Detail = int(port), fromUnix(t), ok == 1, fromUnix(na), cov == 1, []byte(detail)
		out = append(out, r)
	}
	return out, rs.Err()
}

func (s *sqlStore) ProbeTimeline(ctx context.Context, app string, since time.Time, limit int) ([]ProbeResult, error) {
	if limit <= 0 {
		limit = 100000
	}
	rs, err := s.db.query(ctx, `SELECT host, port, addr, time, ok, covered FROM probe_results
		WHERE app = $1 AND time >= $2 ORDER BY time, id LIMIT $3`, app, unix(since), limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []ProbeResult
	for rs.Next() {
		r := ProbeResult{App: app}
		var port, t, ok, cov int64
		if err := rs.Scan(&r.Host, &port, &r.Addr, &t, &ok, &cov); err != nil {
			return nil, err
		}
		r.Port, r.Time, r.OK, r.Covered = int(port), fromUnix(t), ok == 1, cov == 1
		out = append(out, r)
	}
	return out, rs.Err()
}
