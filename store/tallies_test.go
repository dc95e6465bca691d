package store

import (
	"context"
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
