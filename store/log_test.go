package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"pinset.dev/pinset/tlog"
)

// checkLog rebuilds the app's log in memory from its records and checks
// that the stored hashes give the same tree at every size, and that the
// records are the given documents in order.
func checkLog(t *testing.T, s Store, app string, want []tlog.Record) {
	t.Helper()
	ctx := context.Background()
	n, err := s.LogSize(ctx, app)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("log size %d %v, want %d", n, err, len(want))
	}
	if n == 0 {
		return
	}
	recs, err := s.LogRecords(ctx, app, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	mem := &tlog.Memory{}
	hr := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) { return s.LogHashes(ctx, app, ix) })
	for i, b := range recs {
		r, err := tlog.ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if r.App != want[i].App || r.Kind != want[i].Kind || r.Version != want[i].Version || r.SHA256 != want[i].SHA256 || !r.Time.Equal(t0) {
			t.Fatalf("entry %d is %+v, want %+v", i, r, want[i])
		}
		mem.Append(b)
		got, err := tlog.TreeHash(int64(i+1), hr)
		if err != nil {
			t.Fatal(err)
		}
		if exp, _ := mem.TreeHash(int64(i + 1)); got != exp {
			t.Fatalf("tree of size %d: stored hashes give %s, records give %s", i+1, got, exp)
		}
	}
}

func rec(app, kind string, v int64, body string) tlog.Record {
	return tlog.NewRecord(app, kind, uint64(v), []byte(body), t0)
}

// testLog: every published root and manifest is appended in its
// publishing transaction, in order; a refused publication appends nothing.
func testLog(t *testing.T, s Store) {
	ctx := context.Background()
	checkLog(t, s, "shop", nil)
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishManifest(ctx, doc("shop", 1, 1, "m1"), 0); err != nil {
		t.Fatal(err)
	}
	// Refused: stale prev, same version. Nothing is logged.
	if err := s.PublishManifest(ctx, doc("shop", 2, 1, "m2"), 0); !errors.Is(err, ErrConflict) {
		t.Fatal(err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1bis"), 0); !errors.Is(err, ErrConflict) {
		t.Fatal(err)
	}
	want := []tlog.Record{rec("shop", "root", 1, "r1"), rec("shop", "manifest", 1, "m1")}
	for v := int64(2); v <= 20; v++ {
		if err := s.PublishManifest(ctx, doc("shop", v, 1, fmt.Sprintf("m%d", v)), v-1); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec("shop", "manifest", v, fmt.Sprintf("m%d", v)))
	}
	if err := s.PublishRoot(ctx, doc("shop", 2, 0, "r2"), 1); err != nil {
		t.Fatal(err)
	}
	want = append(want, rec("shop", "root", 2, "r2"))
	checkLog(t, s, "shop", want)
	checkLog(t, s, "blog", nil)
	if i, err := s.LogIndex(ctx, "shop", tlog.KindManifest, 5); err != nil || i != 5 {
		t.Fatalf("index of manifest 5: %d %v", i, err)
	}
	if _, err := s.LogIndex(ctx, "shop", tlog.KindManifest, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("index of manifest 99: %v", err)
	}
	if _, err := s.LogHashes(ctx, "shop", []int64{1 << 40}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hash not stored: %v", err)
	}
}

// testLogRace: concurrent publishers over one version append exactly one
// entry (the winner's).
func testLogRace(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	errs := publishConcurrently(ctx, s, 8, 1, 0)
	want := []tlog.Record{rec("shop", "root", 1, "r1")}
	for i, err := range errs {
		if err == nil {
			want = append(want, rec("shop", "manifest", int64(1+i), fmt.Sprintf("m%d", 1+i)))
		}
	}
	checkLog(t, s, "shop", want)
}
