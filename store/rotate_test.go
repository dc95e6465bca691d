package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestRotationSQLite(t *testing.T)   { testRotation(t, openSQLiteForTest(t)) }
func TestRotationPostgres(t *testing.T) { testRotation(t, openPostgresForTest(t)) }

func testRotation(t *testing.T, s Store) {
	ctx := context.Background()
	rec := PlanRecord{App: "shop", Host: "api.example.com", State: "announced", Active: true, Data: []byte(`{"a":1}`), CreatedAt: t0, UpdatedAt: t0}
	id, err := s.CreatePlan(ctx, rec, AuditEntry{At: t0, To: "announced", What: "start", Why: "because", Token: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	// One active plan per (app, host), also when creators race.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rec
			r.Host = "race.example.com"
			_, errs[i] = s.CreatePlan(ctx, r, AuditEntry{What: "start"})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExists):
			t.Fatalf("racing creators: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing creators won, want 1", won)
	}
	if _, err := s.CreatePlan(ctx, rec, AuditEntry{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second active plan: %v", err)
	}
	other := rec
	other.App = "other"
	if _, err := s.CreatePlan(ctx, other, AuditEntry{}); err != nil {
		t.Fatalf("another app's plan for the same host: %v", err)
	}

	got, err := s.Plan(ctx, id)
	if err != nil || got.Rev != 1 || string(got.Data) != `{"a":1}` || !got.Active || got.State != "announced" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("Plan = %+v, %v", got, err)
	}
	got.State, got.Data, got.UpdatedAt = "adopting", []byte(`{"a":2}`), t0.Add(1)
	if err := s.UpdatePlan(ctx, got, 1, AuditEntry{At: t0, From: "announced", To: "adopting", What: "step", Token: "service"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePlan(ctx, got, 1, AuditEntry{What: "step"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale revision: %v", err)
	}
	got.State, got.Active = "aborted", false
	if err := s.UpdatePlan(ctx, got, 2, AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	audit, err := s.PlanAudit(ctx, id)
	if err != nil || len(audit) != 2 || audit[0].What != "start" || audit[0].Token != "ops" || audit[1].To != "adopting" {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	// Once the plan is over, a new one may start for the host.
	if _, err := s.CreatePlan(ctx, rec, AuditEntry{}); err != nil {
		t.Fatalf("new plan after abort: %v", err)
	}
	all, _ := s.Plans(ctx, "", false)
	active, _ := s.Plans(ctx, "shop", true)
	if len(all) != 4 || len(active) != 2 || all[0].ID < all[1].ID {
		t.Fatalf("Plans: %d all, %d active for shop", len(all), len(active))
	}
	if _, err := s.Plan(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown plan: %v", err)
	}
	if err := s.UpdatePlan(ctx, PlanRecord{ID: 9999}, 1, AuditEntry{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown plan: %v", err)
	}
}
