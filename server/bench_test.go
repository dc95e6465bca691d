package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"pinset.dev/pinset/internal/testtool"
)

// BenchmarkReportIngest measures POST /v1/apps/{app}/reports through the
// handler (parse, attribute, group-committed SQLite write), parallel:
// "distinct" makes every body a new failure (a new app version), "storm"
// cycles through 1,000 failures, as when every install reports the same
// few interceptions at once.
func BenchmarkReportIngest(b *testing.B) {
	for _, c := range []struct {
		name     string
		distinct int64
	}{{"distinct", 0}, {"storm", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, func(c *Config) {
				c.ReportRate, c.ReportBurst, c.ReportAppRate, c.ReportAppBurst = 1e9, 1e9, 1e9, 1e9
				c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			})
			e.mustPublish("root", e.repo.Root())
			e.mustPublish("pins", e.repo.Manifest())
			body, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-android.json"))
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(16)
			cpu0 := testtool.CPUTime()
			b.ResetTimer()
			var shed atomic.Int64
			defer func() {
				b.ReportMetric(float64((testtool.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				b.ReportMetric(float64(shed.Load())/float64(b.N), "shed/op")
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					v := n.Add(1)
					if c.distinct > 0 {
						v %= c.distinct
					}
					bb := bytes.Replace(body, []byte(`"4.2.0"`), []byte(fmt.Sprintf(`"%d"`, v)), 1)
					w := httptest.NewRecorder()
					for {
						req := httptest.NewRequest("POST", "/v1/apps/shop/reports", bytes.NewReader(bb))
						w = httptest.NewRecorder()
						e.srv.ServeHTTP(w, req)
						if w.Code != http.StatusServiceUnavailable {
							break
						}
						// Shed (more parsing than cores): a client retries,
						// so an op is one report taken; sheds are counted.
						shed.Add(1)
						runtime.Gosched()
					}
					if w.Code != 201 && w.Code != 200 {
						b.Errorf("%d %s", w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}

// discardWriter is the cheapest http.ResponseWriter: a fresh header map per
// request, as net/http gives, and no body kept, so that the benchmark
// below measures pinset's handler path rather than httptest's recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkManifest measures GET /v1/apps/{app}/pins.json through the whole
// handler (instrumentation, routing, cache lookup, negotiation, headers)
// without the network: a full answer, an If-None-Match hit and a gzip
// answer. Compare with -benchmem: the document path should not allocate
// beyond what net/http's Request needs.
func BenchmarkManifest(b *testing.B) {
	// Logs at info level, the default of pinset serve (the test
	// environment logs everything at debug level).
	e := newEnv(b, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	probe := &discardWriter{h: http.Header{}}
	e.srv.ServeHTTP(probe, httptest.NewRequest("GET", "/v1/apps/shop/pins.json", nil))
	etag := probe.h.Get("ETag")
	for _, c := range []struct {
		name   string
		header []string
		code   int
	}{
		{"200", nil, 200},
		{"304", []string{"If-None-Match", etag}, 304},
		{"gzip", []string{"Accept-Encoding", "gzip, deflate, br"}, 200},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/v1/apps/shop/pins.json", nil)
			for i := 0; i < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := &discardWriter{h: make(http.Header)}
					e.srv.ServeHTTP(w, req.Clone(req.Context()))
					if w.code != c.code {
						b.Errorf("status %d, want %d", w.code, c.code)
						return
					}
				}
			})
		})
	}
}
