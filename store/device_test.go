package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func testDevices(t *testing.T, s Store) {
	ctx := context.Background()
	_, h, _ := NewToken(nil)
	tok := EnrollToken{App: "shop", DeviceID: "d1", Hash: h, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), CreatedBy: "ci"}
	if err := s.AddEnrollToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEnrollToken(ctx, tok); !errors.Is(err, ErrExists) {
		t.Fatalf("same hash twice: %v", err)
	}
	if _, err := s.UseEnrollToken(ctx, "other", h, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another app's token: %v", err)
	}
	if _, err := s.UseEnrollToken(ctx, "shop", h, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	// Concurrent uses: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			got, err := s.UseEnrollToken(ctx, "shop", h, t0.Add(time.Minute))
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
				if got.DeviceID != "d1" || got.CreatedBy != "ci" || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("used token %+v", got)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d uses of one token succeeded", wins)
	}

	c1 := DeviceCert{App: "shop", DeviceID: "d1", Serial: "0a", NotBefore: t0, NotAfter: t0.Add(7 * 24 * time.Hour)}
	if err := s.AddDeviceCert(ctx, c1, DeviceAuditEntry{At: t0, What: "enroll", Serial: "0a", Actor: "device"}); err != nil {
		t.Fatal(err)
	}
	c2 := c1
	c2.Serial, c2.NotAfter = "0b", t0.Add(time.Hour) // expires before the CRL is read
	if err := s.AddDeviceCert(ctx, c2, DeviceAuditEntry{At: t0, What: "renew", Serial: "0b", Actor: "device"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeviceCert(ctx, "shop", "0a"); err != nil || got.DeviceID != "d1" || !got.RevokedAt.IsZero() || !got.NotAfter.Equal(c1.NotAfter) {
		t.Fatalf("cert %+v %v", got, err)
	}
	if _, err := s.DeviceCert(ctx, "other", "0a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another app's serial: %v", err)
	}
	if n, err := s.RevokeDevice(ctx, "shop", "d1", t0.Add(time.Minute), DeviceAuditEntry{At: t0.Add(time.Minute), What: "revoke", Why: "lost", Actor: "ci"}); err != nil || n != 2 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if _, err := s.RevokeDevice(ctx, "shop", "d1", t0, DeviceAuditEntry{What: "revoke"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if got, err := s.DeviceCert(ctx, "shop", "0a"); err != nil || got.RevokedAt.IsZero() || got.DeviceRevokedAt.IsZero() {
		t.Fatalf("revoked cert %+v %v", got, err)
	}
	rs, err := s.RevokedDeviceCerts(ctx, "shop", t0.Add(2*time.Hour))
	if err != nil || len(rs) != 1 || rs[0].Serial != "0a" {
		t.Fatalf("revoked list (the expired one left out): %+v %v", rs, err)
	}
	c3 := c1
	c3.Serial = "0c"
	if err := s.AddDeviceCert(ctx, c3, DeviceAuditEntry{At: t0, What: "renew", Actor: "device"}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("certificate for a revoked device: %v", err)
	}
	_, h2, _ := NewToken(nil)
	if err := s.AddEnrollToken(ctx, EnrollToken{App: "shop", DeviceID: "d1", Hash: h2, ExpiresAt: t0.Add(time.Hour)}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token for a revoked device: %v", err)
	}
	for want := int64(1); want <= 3; want++ {
		if n, err := s.NextCRLNumber(ctx, "shop"); err != nil || n != want {
			t.Fatalf("crl number %d %v, want %d", n, err, want)
		}
	}
	if n, err := s.NextCRLNumber(ctx, "other"); err != nil || n != 1 {
		t.Fatalf("another app's crl number %d %v", n, err)
	}
	as, err := s.DeviceAudit(ctx, "shop", "d1")
	if err != nil || len(as) != 3 || as[0].What != "enroll" || as[1].What != "renew" || as[2].What != "revoke" || as[2].Why != "lost" || as[2].Actor != "ci" {
		t.Fatalf("audit %+v %v", as, err)
	}
}
