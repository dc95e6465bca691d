package store

import (
	"context"
	"testing"
	"time"
)

func TestProbeStoreSQLite(t *testing.T)   { testProbeStore(t, openSQLiteForTest(t)) }
func TestProbeStorePostgres(t *testing.T) { testProbeStore(t, openPostgresForTest(t)) }

// LatestProbes returns exactly the newest round of one app; ProbeTimeline
// its rows since a time, oldest first, without detail.
func testProbeStore(t *testing.T, s Store) {
	ctx := context.Background()
	if rs, err := s.LatestProbes(ctx, "shop"); err != nil || rs != nil {
		t.Fatalf("never probed: %v %v", rs, err)
	}
	var rows []ProbeResult
	for round := range 3 {
		at := t0.Add(time.Duration(round) * 5 * time.Minute)
		for _, addr := range []string{"127.0.0.3:443", "127.0.0.2:443"} {
			rows = append(rows, ProbeResult{App: "shop", Host: "api.example.com", Port: 443, Addr: addr, Time: at, OK: true,
				Covered: round < 2, NotAfter: t0.Add(24 * time.Hour), Detail: []byte(`{"verdict":"accepted"}`)})
		}
		// Another app's later round must not count.
		rows = append(rows, ProbeResult{App: "blog", Host: "blog.example.com", Port: 443, Addr: "127.0.0.9:443", Time: at.Add(time.Minute), OK: true, Detail: []byte(`{}`)})
	}
	if err := s.AddProbeResults(ctx, rows); err != nil {
		t.Fatal(err)
	}
	latest, err := s.LatestProbes(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[0].Addr != "127.0.0.2:443" || !latest[0].Time.Equal(t0.Add(10*time.Minute)) || latest[0].Covered ||
		string(latest[0].Detail) != `{"verdict":"accepted"}` {
		t.Fatalf("latest: %+v", latest)
	}
	tl, err := s.ProbeTimeline(ctx, "shop", t0.Add(5*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 4 || !tl[0].Time.Equal(t0.Add(5*time.Minute)) || !tl[0].Covered || tl[3].Covered || tl[0].Detail != nil {
		t.Fatalf("timeline: %+v", tl)
	}
	if tl, _ := s.ProbeTimeline(ctx, "shop", t0, 3); len(tl) != 3 {
		t.Fatalf("limit: %d rows", len(tl))
	}
}

func TestAggregateByPlatformSQLite(t *testing.T) {
	s := openSQLiteForTest(t)
	ctx := context.Background()
	ios, iosRaw := fixtureReport(t, "trustkit-ios.json", "shop")
	android, androidRaw := fixtureReport(t, "trustkit-android.json", "shop")
	if _, _, err := s.AddReport(ctx, ios, iosRaw, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddReport(ctx, android, androidRaw, t0); err != nil {
		t.Fatal(err)
	}
	agg, err := s.Aggregate(ctx, ReportQuery{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(agg.ByPlatform) != 2 || agg.ByPlatform[0].Key != "ANDROID" || agg.ByPlatform[1].Key != "IOS" {
		t.Fatalf("by platform: %+v", agg.ByPlatform)
	}
	rs, err := s.Reports(ctx, ReportQuery{App: "shop", AppVersion: ios.AppVersion})
	if err != nil || len(rs) != 1 || rs[0].Report.Platform != "IOS" {
		t.Fatalf("app version filter: %+v %v", rs, err)
	}
}
