package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReportBumpsAreHOTPostgres: repeats of stored failures (a storm) are
// counted by heap-only (HOT) updates, which write no index entry, so that
// a storm does not grow the indexes of reports (migration 014). On the
// earlier schema count and last_seen were columns of indexes of reports
// (reports_app_agg, reports_last_seen), and PostgreSQL makes an update
// that changes an indexed column a non-HOT one (README.HOT in
// src/backend/access/heap: "HOT ... only when no indexed column is
// changed").
func TestReportBumpsAreHOTPostgres(t *testing.T) {
	ctx := context.Background()
	u := postgresURLForTest(t)
	s, err := OpenPostgres(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	base, raw := fixtureReport(t, "trustkit-android.json", "shop")
	const keys, rounds = 5, 600
	for i := range rounds {
		for k := range keys {
			r := *base
			r.AppVersion = fmt.Sprint(k)
			r.DedupKey = fmt.Sprintf("%064d", k)
			// Within one minute and one hour: no latest sample to
			// replace, and last_hour stays.
			if _, _, err := s.AddReport(ctx, &r, raw, t0.Add(time.Duration(i)*50*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.Reports(ctx, ReportQuery{App: "shop"})
	if err != nil || len(got) != keys {
		t.Fatalf("reports: %d, %v", len(got), err)
	}
	for _, r := range got {
		if r.Count != rounds || !r.LastSeen.Equal(t0.Add((rounds-1)*50*time.Millisecond).Truncate(time.Second)) {
			t.Errorf("report %d: count %d, last seen %v", r.ID, r.Count, r.LastSeen)
		}
	}
	// A backend flushes its statistics when it exits: close the store's
	// connections, then wait for their counts.
	s.Close()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	repeats := int64(keys * (rounds - 1))
	var upd, hot int64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := c.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatal(err)
		}
		err := c.QueryRow(ctx, `SELECT COALESCE(sum(n_tup_upd), 0)::bigint, COALESCE(sum(n_tup_hot_upd), 0)::bigint FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname IN ('reports', 'report_tallies')`).Scan(&upd, &hot)
		if err != nil {
			t.Fatal(err)
		}
		if upd >= repeats || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d updates of reports and report_tallies, %d of them heap-only (HOT)", upd, hot)
	if upd < repeats {
		t.Fatalf("statistics count %d updates of reports and report_tallies, want at least the %d repeats", upd, repeats)
	}
	if hot*100 < upd*95 {
		t.Errorf("%d of %d updates of reports and report_tallies were heap-only (HOT), want at least 95 %%: a repeat writes index entries", hot, upd)
	}
}

// TestUpgradeFromVersion13 stores two reports under schema version 13
// (count, last_seen and sampled on the report row), then opens the
// database, which migrates it (014): the counters move to report_tallies
// unchanged, the listing, the aggregate and the prune read them there, and
// the old columns are gone.
func TestUpgradeFromVersion13(t *testing.T) {
	ctx := context.Background()
	for _, backendName := range []string{"sqlite", "postgres"} {
		t.Run(backendName, func(t *testing.T) {
			b, reopen := oldSchema(t, backendName, ReportLimits{Retention: time.Hour})
			if err := migrateTo(ctx, b, backendName, "", 13); err != nil {
				t.Fatal(err)
			}
			r, raw := fixtureReport(t, "trustkit-android.json", "shop")
			norm, _ := json.Marshal(r)
			old, recent := t0.Add(-2*time.Hour), t0
			for _, x := range []struct {
				key            string
				last           time.Time
				count, sampled int64
			}{{"old", old, 7, 0}, {"recent", recent, 3, unix(recent)}} {
				if _, err := b.exec(ctx, `INSERT INTO reports (app, host, port, platform, app_version, format, validation_result, enforce,
					report_time, first_seen, last_seen, count, dedup_key, presented_pins, normalized, raw, fingerprint, raw_refs, size, sampled)
					VALUES ('shop', $1, 0, 'ANDROID', '4.2.0', $2, 1, 1, $3, $3, $3, $4, $5, '', $6, $7, $5, '', 100, $8)`,
					r.Host, r.Format, unix(x.last), x.count, x.key, string(norm), raw, x.sampled); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.exec(ctx, `INSERT INTO report_usage (app, n_rows, n_bytes) VALUES ('shop', 2, 200)`); err != nil {
				t.Fatal(err)
			}
			s := reopen()
			defer s.Close()
			got, err := s.Reports(ctx, ReportQuery{App: "shop"})
			if err != nil || len(got) != 2 {
				t.Fatalf("reports after the upgrade: %d %v", len(got), err)
			}
			for _, sr := range got {
				want, last := int64(7), old
				if sr.ID == 2 {
					want, last = 3, recent
				}
				if sr.Count != want || !sr.LastSeen.Equal(last) {
					t.Errorf("report %d after the upgrade: count %d last seen %v, want %d %v", sr.ID, sr.Count, sr.LastSeen, want, last)
				}
			}
			if a, err := s.Aggregate(ctx, ReportQuery{App: "shop"}); err != nil || a.Total.Reports != 2 || a.Total.Events != 10 {
				t.Errorf("aggregate after the upgrade: %+v %v", a.Total, err)
			}
			var sampled, hour int64
			if err := b.queryRow(ctx, `SELECT sampled, last_hour FROM report_tallies WHERE report_id = 2`).Scan(&sampled, &hour); err != nil ||
				sampled != unix(recent) || hour != unix(recent)/3600 {
				t.Errorf("tallies of the recent report: sampled %d, last hour %d, %v", sampled, hour, err)
			}
			if _, err := b.exec(ctx, `SELECT last_seen FROM reports`); err == nil {
				t.Error("reports.last_seen is still a column after migration 014")
			}
			// Retention of an hour at t0+30m: the old report goes, the
			// recent one stays.
			if n, err := s.PruneReports(ctx, t0.Add(30*time.Minute)); err != nil || n != 1 {
				t.Errorf("prune after the upgrade: %d %v", n, err)
			}
			if got, err := s.Reports(ctx, ReportQuery{App: "shop"}); err != nil || len(got) != 1 || got[0].Count != 3 {
				t.Errorf("reports after the prune: %+v %v", got, err)
			}
		})
	}
}
