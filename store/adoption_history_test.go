package store

import (
	"context"
	"testing"
	"time"
)

func TestAdoptionHistorySQLite(t *testing.T)   { testAdoptionHistory(t, openSQLiteForTest(t)) }
func TestAdoptionHistoryPostgres(t *testing.T) { testAdoptionHistory(t, openPostgresForTest(t)) }

// A plan's adoption samples: at most one per gap, oldest first, and
// bounded: past keep, every second one goes, the first and the newest
// stay. Another plan's samples are its own.
func testAdoptionHistory(t *testing.T, s Store) {
	ctx := context.Background()
	rec := PlanRecord{App: "shop", Host: "api.example.com", State: "announced", Active: true, Data: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}
	id, err := s.CreatePlan(ctx, rec, AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Host = "cdn.example.com"
	other, err := s.CreatePlan(ctx, rec, AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	add := func(plan int64, at time.Time, clients int64) bool {
		t.Helper()
		ok, err := s.AddAdoptionSample(ctx, AdoptionSample{PlanID: plan, At: at, Clients: clients, Active: 100}, 10*time.Minute, 6)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !add(id, t0, 0) || add(id, t0.Add(9*time.Minute), 5) || !add(id, t0.Add(10*time.Minute), 10) || !add(other, t0.Add(time.Minute), 1) {
		t.Fatal("the gap between samples is not kept per plan")
	}
	got, err := s.AdoptionSamples(ctx, id)
	if err != nil || len(got) != 2 || !got[0].At.Equal(t0) || got[1].Clients != 10 || got[1].Active != 100 || got[1].Fraction() != 0.1 || got[1].PlanID != id {
		t.Fatalf("samples %+v, %v", got, err)
	}
	for i := int64(2); i <= 6; i++ { // samples 0..6: seven, one past keep
		add(id, t0.Add(time.Duration(i)*10*time.Minute), 10*i)
	}
	got, _ = s.AdoptionSamples(ctx, id)
	var clients []int64
	for _, a := range got {
		clients = append(clients, a.Clients)
	}
	// 0,10,...,60 thinned: 10, 30 and 50 go; the first and the newest stay.
	if want := []int64{0, 20, 40, 60}; len(clients) != len(want) || clients[0] != 0 || clients[1] != 20 || clients[2] != 40 || clients[3] != 60 {
		t.Fatalf("after thinning: %v, want %v", clients, want)
	}
	if o, _ := s.AdoptionSamples(ctx, other); len(o) != 1 || o[0].Clients != 1 {
		t.Fatalf("the other plan's samples: %+v", o)
	}
	if _, err := s.AddAdoptionSample(ctx, AdoptionSample{PlanID: id, At: t0.Add(24 * time.Hour)}, 0, 1); err == nil {
		t.Fatal("keep 1 accepted")
	}
}
