package console

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/store"
)

// testClock is testtool.Clock.
type testClock = testtool.Clock

// The snapshot is computed on first use, served while fresh, served stale
// once while it is recomputed in the background, and then replaced; the
// number of entries is bounded.
func TestAggCache(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := testtool.NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
	raw, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	if err != nil {
		t.Fatal(err)
	}
	add := func(app string) {
		r, err := report.Parse(raw, report.Options{App: app, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddReport(ctx, r, raw, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	add("shop")
	c := newAggCache(st, clk.Now, slog.New(slog.DiscardHandler))
	q := store.ReportQuery{App: "shop"}
	agg, at, err := c.get(ctx, q)
	if err != nil || agg.Total.Events != 1 || !at.Equal(clk.Now()) {
		t.Fatalf("first: %+v %v %v", agg.Total, at, err)
	}
	add("shop")
	clk.Add(aggFresh - time.Second)
	if agg, _, _ := c.get(ctx, q); agg.Total.Events != 1 {
		t.Fatalf("fresh snapshot recomputed: %+v", agg.Total)
	}
	clk.Add(time.Second)
	if agg, _, _ := c.get(ctx, q); agg.Total.Events != 1 {
		t.Fatalf("stale snapshot not served while refreshing: %+v", agg.Total)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		agg, at, _ := c.get(ctx, q)
		if agg.Total.Events == 2 && at.Equal(clk.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never refreshed: %+v", agg.Total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 * aggMaxEntries {
		if _, _, err := c.get(ctx, store.ReportQuery{App: "shop", Host: "h" + string(rune('a'+i%26)) + string(rune('a'+i/26))}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	if n > aggMaxEntries {
		t.Fatalf("%d cached entries, bound %d", n, aggMaxEntries)
	}
}
