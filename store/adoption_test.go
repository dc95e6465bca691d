package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestAdoptionSQLite(t *testing.T)   { runAdoption(t, openSQLiteForTest) }
func TestAdoptionPostgres(t *testing.T) { runAdoption(t, openPostgresForTest) }

func runAdoption(t *testing.T, open func(*testing.T, ...Option) Store) {
	t.Run("Counts", func(t *testing.T) { testAdoptionCounts(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testAdoptionConcurrent(t, open(t)) })
	t.Run("Exact", func(t *testing.T) { testAdoptionExact(t, open(t)) })
	t.Run("NetworkCap", func(t *testing.T) { testAdoptionNetworkCap(t, open(t)) })
}

func sighting(app, id string, v int64, at time.Time) InstallSighting {
	return InstallSighting{App: app, Install: id, RootVersion: 1, ManifestVersion: v, SDK: "test", Seen: at}
}

func testAdoptionCounts(t *testing.T, s Store) {
	ctx := context.Background()
	day := 24 * time.Hour
	err := s.RecordInstalls(ctx, []InstallSighting{
		sighting("a", "i1", 1, t0.Add(-10*day)), // outside a 7-day window
		sighting("a", "i2", 1, t0.Add(-2*day)),
		sighting("a", "i3", 2, t0.Add(-1*day)),
		sighting("a", "i3", 1, t0.Add(-3*day)), // older than i3's other sighting in the same batch
		sighting("b", "i2", 5, t0),             // another app
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later batch with an older sighting does not move i2 back.
	if err := s.RecordInstalls(ctx, []InstallSighting{sighting("a", "i2", 7, t0.Add(-5*day))}); err != nil {
		t.Fatal(err)
	}
	// A newer one moves it forward.
	if err := s.RecordInstalls(ctx, []InstallSighting{sighting("a", "i4", 2, t0)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Adoption(ctx, "a", t0.Add(-7*day))
	if err != nil {
		t.Fatal(err)
	}
	want := AdoptionCounts{Active: 3, Versions: []VersionCount{{1, 1}, {2, 2}}}
	got.Networks = nil // by network: testAdoptionNetworkCap
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Adoption = %+v, want %+v", got, want)
	}
	if got, _ := s.Adoption(ctx, "none", t0.Add(-7*day)); got.Active != 0 || got.Versions == nil || len(got.Versions) != 0 {
		t.Fatalf("unknown app: %+v", got)
	}
	n, err := s.PruneInstalls(ctx, t0.Add(-7*day))
	if err != nil || n != 1 {
		t.Fatalf("PruneInstalls = %d, %v; want 1 (i1)", n, err)
	}
	if got, _ := s.Adoption(ctx, "a", time.Time{}); got.Active != 3 {
		t.Fatalf("after pruning, all-time active = %d, want 3", got.Active)
	}
}

// testAdoptionConcurrent: writers racing over the same installs (several
// service processes) neither fail nor lose the newest sighting.
func testAdoptionConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []InstallSighting
			for i := range 50 {
				batch = append(batch, sighting("a", fmt.Sprintf("i%02d", i), int64(w+1), t0.Add(time.Duration(w)*time.Second)))
			}
			errs <- s.RecordInstalls(ctx, batch)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Adoption(ctx, "a", t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := AdoptionCounts{Active: 50, Versions: []VersionCount{{8, 50}}} // writer 7 saw them last
	got.Networks = nil                                                    // by network: testAdoptionNetworkCap
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Adoption = %+v, want %+v", got, want)
	}
}

// testAdoptionExact: counts are exact (no sketch), over several statements.
func testAdoptionExact(t *testing.T, s Store) {
	ctx := context.Background()
	var batch []InstallSighting
	for i := range 2345 {
		batch = append(batch, sighting("a", fmt.Sprintf("%032x", i), int64(1+i%3), t0))
	}
	if err := s.RecordInstalls(ctx, batch); err != nil {
		t.Fatal(err)
	}
	got, err := s.Adoption(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	want := AdoptionCounts{Active: 2345, Versions: []VersionCount{{1, 782}, {2, 782}, {3, 781}}}
	got.Networks = nil // by network: testAdoptionNetworkCap
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Adoption = %+v, want %+v", got, want)
	}
}

// testAdoptionNetworkCap: with a cap, one network counts at most Max
// distinct installs per window (the earliest first); installs it already
// counts are updated however full it is; other networks and other apps
// are not affected; sightings older than the window free their place; the
// split by network counts what was kept.
func testAdoptionNetworkCap(t *testing.T, s Store) {
	ctx := context.Background()
	lim := NetworkLimit{Max: 3, Since: t0.Add(-time.Hour)}
	on := func(app, id, network string, v int64, at time.Time) InstallSighting {
		x := sighting(app, id, v, at)
		x.Network = network
		return x
	}
	record := func(want map[string]int64, ss ...InstallSighting) {
		t.Helper()
		capped, err := s.RecordInstallsCapped(ctx, ss, lim)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(capped, want) {
			t.Fatalf("capped = %v, want %v", capped, want)
		}
	}
	record(map[string]int64{}, on("a", "old", "n1", 1, t0.Add(-2*time.Hour))) // outside the window: frees its place
	var forged []InstallSighting
	for i := range 1000 {
		forged = append(forged, on("a", fmt.Sprintf("f%04d", i), "n1", 2, t0.Add(time.Duration(i)*time.Second)))
	}
	record(map[string]int64{"a": 997}, forged...)
	record(map[string]int64{"a": 1}, on("a", "late", "n1", 1, t0.Add(time.Hour)), on("a", "f0001", "n1", 1, t0.Add(time.Hour)), on("a", "r1", "n2", 1, t0), on("b", "x", "n1", 1, t0))
	got, err := s.Adoption(ctx, "a", lim.Since)
	if err != nil {
		t.Fatal(err)
	}
	want := AdoptionCounts{Active: 4, Versions: []VersionCount{{1, 2}, {2, 2}},
		Networks: []NetworkVersionCount{{"n1", 1, 1}, {"n1", 2, 2}, {"n2", 1, 1}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Adoption = %+v, want %+v", got, want)
	}
	if n, err := s.RecordInstallsCapped(ctx, nil, lim); len(n) != 0 || err != nil {
		t.Fatalf("empty batch: %v, %v", n, err)
	}
}
