package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	counts, err := e.st.ReportCounts(t.Context(), "shop", e.clock.Now().Add(-time.Hour), e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, c := range counts {
		total += c.Count
	}
	if len(counts) != versions || total != versions*repeats {
		t.Errorf("counters %+v: want %d rows summing to %d", counts, versions, versions*repeats)
	}
}
