package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pinset.dev/pinset/store"
)

// TestReportStormChainParsedOnce: reports of one interception from many
// app versions carry the same chain; the service parses it once (the
// chain cache) and stores one row per failure with every arrival counted.
func TestReportStormChainParsedOnce(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReportRate, c.ReportBurst = 1e6, 1e6 })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	body, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-android.json"))
	if err != nil {
		t.Fatal(err)
	}
	const versions, repeats = 5, 4
	for i := range versions * repeats {
		b := bytes.Replace(body, []byte(`"4.2.0"`), fmt.Appendf(nil, `"%d"`, i%versions), 1)
		if r := e.do("POST", "/v1/apps/shop/reports", b); r.code != 201 && r.code != 200 {
			t.Fatalf("report %d: %d %s", i, r.code, r.body)
		}
	}
	hits, misses := e.srv.chains.Stats()
	// Served and validated chain are the same bytes in the fixture: one
	// parse in all.
	if misses != 1 || hits != 2*versions*repeats-1 {
		t.Errorf("chain cache: %d hits, %d misses; want every chain after the first found", hits, misses)
	}
	// The counters and samples through the admin API.
	var got struct {
		Counts    []store.ReportCount
		Truncated bool
	}
	r := e.admin("GET", "/v1/admin/apps/shop/report-counts", nil)
	r.json(t, &got)
	counts := got.Counts
	if r.code != 200 || got.Truncated {
		t.Fatalf("report-counts: %d %s", r.code, r.body)
	}
	if r := e.admin("GET", "/v1/admin/apps/nope/report-counts", nil); r.code != 404 {
		t.Errorf("counts of an unknown app: %d", r.code)
	}
	var list struct{ Reports []store.StoredReport }
	e.admin("GET", "/v1/admin/apps/shop/reports", nil).json(t, &list)
	var samples struct {
		Samples []struct {
			Arrival int64
			Raw     []byte
		}
	}
	sr := e.admin("GET", fmt.Sprintf("/v1/admin/reports/%d/samples", list.Reports[0].ID), nil)
	sr.json(t, &samples)
	// Each of the 5 failures arrived 4 times: all 4 bodies are kept, the
	// latest not apart (it is among the first).
	if sr.code != 200 || len(samples.Samples) != repeats || samples.Samples[0].Arrival != 1 || !bytes.Contains(samples.Samples[0].Raw, []byte("app-version")) {
		t.Errorf("samples: %d %s", sr.code, sr.body)
	}
	if r := e.admin("GET", "/v1/admin/reports/999999/samples", nil); r.code != 404 {
		t.Errorf("samples of an unknown report: %d", r.code)
	}
	total := int64(0)
	for _, c := range counts {
		total += c.Count
	}
	if len(counts) != versions || total != versions*repeats {
		t.Errorf("counters %+v: want %d rows summing to %d", counts, versions, versions*repeats)
	}
}
