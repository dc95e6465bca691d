package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// The client against the real pin service (package server on SQLite): the
// documents are published through the admin API, fetched by the client at
// the documented paths, and a failure report lands in the service's store.
func TestAgainstRealPinService(t *testing.T) {
	clock := ct.NewClock(ct.T0)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Now: clock.Now, RefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	secret, hash, err := store.NewToken(pki.NewDeterministicRand("token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(context.Background(), "client-test", hash, clock.Now()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	admin := adminPut(t, hs.URL, secret)

	// The signing side: the simulator's keys and documents (its own HTTP
	// endpoint is not used here).
	repo := ct.NewRepo(t, "com.example.svc", "svc")
	ca := pki.Must(pki.NewRoot(pki.Template{Now: clock.Now, Rand: pki.NewDeterministicRand("svc ca")}))
	live := pki.Must(ca.NewLeaf(pki.Template{Now: clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("svc live")}))
	backup := pki.Must(ca.NewLeaf(pki.Template{Now: clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("svc backup")}))
	backend := ct.NewBackend(t, live)
	m1 := repo.Sign(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", live.Pin(), backup.Pin()))
	admin("/v1/admin/apps/com.example.svc/root", repo.RootBytes(1))
	admin("/v1/admin/apps/com.example.svc/pins", m1)

	var failures []string
	c, err := client.New(client.Config{
		BundledRoot: repo.RootBytes(1), BundledManifest: m1, ServiceURL: hs.URL,
		TLS: &tls.Config{RootCAs: ca.Pool()}, Now: clock.Now, Store: &client.MemStore{},
		OnEvent: func(e client.Event) {
			if e.Kind == client.EventRejected || e.Kind == client.EventReportDropped {
				failures = append(failures, e.String())
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh against the service: %v", err)
	}

	// A root rotation and a new manifest, published through the service.
	repo.RotateRoot(false)
	clock.Add(time.Hour)
	m2 := repo.Sign(2, clock.Now(), 30*24*time.Hour, ct.Pol("127.0.0.1", backup.Pin(), live.Pin()))
	admin("/v1/admin/apps/com.example.svc/root", repo.RootBytes(2))
	admin("/v1/admin/apps/com.example.svc/pins", m2)
	time.Sleep(5 * time.Millisecond) // the service's document cache refresh
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh after publication: %v", err)
	}
	if s := c.State(); s.RootVersion != 2 || s.ManifestVersion != 2 {
		t.Fatalf("state %+v", s)
	}
	// Unchanged: answered from the ETag.
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	// An interceptor: refused, reported to /v1/apps/{app}/reports, stored.
	evil := pki.Must(ca.NewLeaf(pki.Template{Now: clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("svc evil")}))
	backend.SetLeaf(evil)
	if _, err := c.HTTPClient().Get(backend.URL("/")); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("interceptor: %v", err)
	}
	if err := c.FlushReports(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/admin/apps/com.example.svc/reports", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Reports []struct {
			Report map[string]any `json:"report"`
		} `json:"reports"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Reports) != 1 {
		t.Fatalf("%d reports stored; events %v", len(got.Reports), failures)
	}
	if s := fmt.Sprint(got.Reports[0].Report); !bytes.Contains([]byte(s), []byte("127.0.0.1")) {
		t.Errorf("stored report %s", s)
	}
	if len(failures) != 0 {
		t.Errorf("unexpected events: %v", failures)
	}
}

// adminPut returns a function that PUTs body to the service at base under
// path with the admin token, failing the test unless the answer is 2xx.
func adminPut(t *testing.T, base, secret string) func(path string, body []byte) {
	return func(path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
		}
	}
}
