package store

import (
	"context"
	"slices"
)

// ProbeStore reads the monitor's probe history for the web console: an
// app's newest round by index (app, time) (migration 006) and one host's
// timeline by index (app, host, time) (migration 007), so that their cost
// does not grow with the history.
type ProbeStore interface {
	// LatestProbes returns the rows of app's newest monitor round (the
	// monitor stores one round of an app under one time), sorted by host,
	// port and address; nil when the app was never probed.
	LatestProbes(ctx context.Context, app string) ([]ProbeResult, error)
	// ProbeTimeline returns the newest limit results (0: 1000) of one
	// host of app, every address, without their detail, oldest first.
	ProbeTimeline(ctx context.Context, app, host string, limit int) ([]ProbeResult, error)
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
	return scanRows(rs, err, nil, scanProbeResult)
}

func (s *sqlStore) ProbeTimeline(ctx context.Context, app, host string, limit int) ([]ProbeResult, error) {
	if limit <= 0 {
		limit = 1000
	}
	rs, err := s.db.query(ctx, `SELECT host, port, addr, time, ok, covered FROM probe_results
		WHERE host = $1 AND app = $2 ORDER BY time DESC, id DESC LIMIT $3`, host, app, limit)
	out, err := scanRows(rs, err, nil, func(row row) (ProbeResult, error) {
		r := ProbeResult{App: app}
		var port, t, ok, cov int64
		err := row.Scan(&r.Host, &port, &r.Addr, &t, &ok, &cov)
		r.Port, r.Time, r.OK, r.Covered = int(port), fromUnix(t), ok == 1, cov == 1
		return r, err
	})
	slices.Reverse(out)
	return out, err
}
