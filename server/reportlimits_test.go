package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/store"
)

// reportBody returns the iOS fixture as a distinct failure n (its host).
func reportBody(t testing.TB, n int) []byte {
	return trustkitReport(t, map[string]any{"hostname": fmt.Sprintf("h%d.example.com", n)})
}

// trustkitReport returns the iOS fixture with fields replaced.
func trustkitReport(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	maps.Copy(m, fields)
	out, _ := json.Marshal(m)
	return out
}

// TestReportBucketPerIPv6Prefix: the addresses of one IPv6 /64 share one
// bucket (a subscriber holds the whole /64); another /64 and an IPv4
// address have their own.
func TestReportBucketPerIPv6Prefix(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReportBurst = 2 })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	post := func(n int, addr string) int {
		return e.do("POST", "/v1/apps/shop/reports", reportBody(t, n), "RemoteAddr", addr).code
	}
	for i, addr := range []string{"[2001:db8:1:2::1]:5000", "[2001:db8:1:2:ffff:ffff:ffff:fffe]:6000"} {
		if c := post(i, addr); c != 201 {
			t.Fatalf("%s: %d", addr, c)
		}
	}
	if c := post(3, "[2001:db8:1:2::abcd%eth0]:7000"); c != 429 {
		t.Errorf("a third address of the same /64: %d, want 429", c)
	}
	if c := post(4, "[2001:db8:1:3::1]:5000"); c != 201 {
		t.Errorf("another /64: %d", c)
	}
	if c := post(5, "[::ffff:192.0.2.1]:5000"); c != 201 {
		t.Errorf("IPv4-mapped: %d", c)
	}
	for in, want := range map[string]string{
		"[2001:db8:1:2:3:4:5:6]:1": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:1":     "192.0.2.1",
		"192.0.2.1:1":              "192.0.2.1",
	} {
		if got := clientAddr(httptestRequest(in)); got != want {
			t.Errorf("clientAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestReportLimiterFullTable: with the bucket table full of flooding
// addresses, a new address still gets a bucket of its own. New addresses
// used to share one overflow bucket, which the flood kept empty.
func TestReportLimiterFullTable(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	l := newLimiter(1, 2, func() time.Time { return now })
	for i := range maxBuckets + 100 {
		l.allow(fmt.Sprintf("flood-%d", i))
		l.allow(fmt.Sprintf("flood-%d", i))
	}
	if len(l.buckets) > maxBuckets {
		t.Errorf("%d buckets: memory unbounded", len(l.buckets))
	}
	if ok, _ := l.allow("2001:db8:77::/64"); !ok {
		t.Error("a real client's first report was refused because the table was full")
	}
}

// TestReportAppLimit: every app has its own token bucket, whatever the
// client addresses.
func TestReportAppLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReportAppBurst = 3; c.ReportAppRate = 0.5 })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	for i := range 5 {
		r := e.do("POST", "/v1/apps/shop/reports", reportBody(t, i), "RemoteAddr", fmt.Sprintf("198.51.100.%d:1", i+1))
		switch {
		case i < 3 && r.code != 201:
			t.Fatalf("report %d: %d %s", i, r.code, r.body)
		case i >= 3 && (r.code != 429 || !strings.Contains(string(r.body), "this app") || r.h.Get("Retry-After") != "2"):
			t.Fatalf("report %d over the app's limit: %d %s (Retry-After %q)", i, r.code, r.body, r.h.Get("Retry-After"))
		}
	}
	e.clock.Add(2 * time.Second)
	if r := e.do("POST", "/v1/apps/shop/reports", reportBody(t, 9), "RemoteAddr", "198.51.100.99:1"); r.code != 201 {
		t.Errorf("after refill: %d", r.code)
	}
	m := e.do("GET", "/metrics", nil)
	if !strings.Contains(string(m.body), `pinset_reports_received_total{format="trustkit-ios",result="app_rate_limited"} 2`) {
		t.Errorf("metrics lack the app_rate_limited count")
	}
}

// TestReportQuotaFull: a report the store refuses for its app's quota is
// answered 507 quota_full and counted, never acknowledged as stored.
func TestReportQuotaFull(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile),
		store.WithReportLimits(store.ReportLimits{MaxRows: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvStore(t, st, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	if r := e.do("POST", "/v1/apps/shop/reports", reportBody(t, 1), "RemoteAddr", "192.0.2.1:1"); r.code != 201 {
		t.Fatalf("first: %d", r.code)
	}
	r := e.do("POST", "/v1/apps/shop/reports", reportBody(t, 2), "RemoteAddr", "192.0.2.2:1")
	if r.code != 507 || r.apiErr(t).Code != "quota_full" {
		t.Fatalf("over quota: %d %s", r.code, r.body)
	}
	m := e.do("GET", "/metrics", nil)
	if !strings.Contains(string(m.body), `pinset_reports_received_total{format="trustkit-ios",result="quota_full"} 1`) {
		t.Errorf("metrics lack the quota_full count")
	}
}

func httptestRequest(remote string) *http.Request {
	r := httptest.NewRequest("POST", "/v1/reports", nil)
	r.RemoteAddr = remote
	return r
}
