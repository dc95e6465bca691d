package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testReportStorm: many arrivals of a few failures, concurrently (so that
// batches hold several arrivals of one dedup key) and then one at a time:
// every arrival is counted (row counts, report_events, report_counts), each
// failure holds one row, and the raw bodies kept are its first SampleFirst
// and the latest, refreshed at most once a minute.
func testReportStorm(t *testing.T, s Store) {
	ctx := context.Background()
	base, raw := fixtureReport(t, "trustkit-android.json", "shop")
	// body returns the fixture with a member that tells arrivals apart
	// (the store keeps raw bytes, whatever they say).
	body := func(key, i int) []byte {
		return bytes.Replace(raw, []byte("{"), fmt.Appendf(nil, `{"seq": "%d-%d", `, key, i), 1)
	}
	const keys, per = 3, 40
	add := func(key, i int, at time.Time) error {
		r := *base
		r.AppVersion = fmt.Sprintf("v%d", key)
		r.DedupKey = fmt.Sprintf("%064d", key)
		_, _, err := s.AddReport(ctx, &r, body(key, i), at)
		return err
	}
	// The first arrival of each key alone, so that sample numbers are known.
	for k := range keys {
		if err := add(k, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, keys*per)
	for k := range keys {
		for i := 1; i < per; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := add(k, i, t0.Add(time.Second)); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stored, err := s.Reports(ctx, ReportQuery{App: "shop"})
	if err != nil || len(stored) != keys {
		t.Fatalf("%d rows (%v), want one per failure (%d)", len(stored), err, keys)
	}
	for _, r := range stored {
		if r.Count != per {
			t.Errorf("report %d: count %d, want %d", r.ID, r.Count, per)
		}
	}
	ev, err := s.ReportEvents(ctx, "shop", t0, t0.Add(time.Hour))
	if err != nil || ev[base.Host] != keys*per {
		t.Errorf("report events %v %v, want %d", ev, err, keys*per)
	}
	counts, err := s.ReportCounts(ctx, "shop", t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if one, err := s.ReportCounts(ctx, "shop", t0, t0.Add(time.Hour), 1); err != nil || len(one) != 1 {
		t.Errorf("limit 1: %d rows, %v", len(one), err)
	}
	byVersion := map[string]int64{}
	for _, c := range counts {
		if c.Host != base.Host || c.ServedPin != base.ServedChain[0].Pin.String() || c.Platform != "ANDROID" || !c.Minute.Equal(t0) {
			t.Errorf("counter %+v", c)
		}
		byVersion[c.AppVersion] += c.Count
	}
	for k := range keys {
		if byVersion[fmt.Sprintf("v%d", k)] != per {
			t.Errorf("counters per version %v, want %d each", byVersion, per)
		}
	}

	// Samples: the first arrival's body, then SampleFirst-1 more and the
	// latest; which of the concurrent arrivals they are is the batches'
	// order, but each is one of that key's bodies and none repeats.
	id := stored[0].ID
	key := -1
	check := func(at time.Time, wantLatest []byte) {
		t.Helper()
		ss, err := s.ReportSamples(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != SampleFirst+1 {
			t.Fatalf("%d samples, want %d", len(ss), SampleFirst+1)
		}
		seen := map[string]bool{}
		for i, x := range ss {
			want := int64(i + 1)
			if i == SampleFirst {
				want = 0
			}
			if x.Arrival != want || seen[string(x.Raw)] {
				t.Errorf("sample %d: arrival %d (want %d), repeated %v", i, x.Arrival, want, seen[string(x.Raw)])
			}
			seen[string(x.Raw)] = true
		}
		if key < 0 {
			fmt.Sscanf(string(ss[0].Raw), `{"seq": "%d-`, &key)
		}
		if !bytes.Equal(ss[0].Raw, body(key, 0)) {
			t.Errorf("first sample is not the first arrival:\n%.80s", ss[0].Raw)
		}
		if wantLatest != nil && (!bytes.Equal(ss[SampleFirst].Raw, wantLatest) || !ss[SampleFirst].Received.Equal(at)) {
			t.Errorf("latest sample received %v:\n%.80s\nwant %v:\n%.80s", ss[SampleFirst].Received, ss[SampleFirst].Raw, at, wantLatest)
		}
	}
	check(time.Time{}, nil)
	ss, _ := s.ReportSamples(ctx, id)
	latest := ss[SampleFirst]
	// Within a minute of the latest sample: counted, not sampled.
	if err := add(key, 100, latest.Received.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	check(latest.Received, latest.Raw)
	// A minute later: the new latest.
	at := latest.Received.Add(2 * time.Minute)
	if err := add(key, 101, at); err != nil {
		t.Fatal(err)
	}
	check(at, body(key, 101))

	// Deleting the report (retention) deletes its samples.
	if _, err := s.PruneReports(ctx, t0.Add(DefaultReportRetention+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReportSamples(ctx, id); err == nil {
		t.Error("samples of a pruned report")
	}
	if u, err := s.ReportUsage(ctx, "shop"); err != nil || u != (Usage{}) {
		t.Errorf("usage after pruning everything: %+v %v (samples' bytes not given back?)", u, err)
	}
}
