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
	"sync/atomic"
	"testing"
)

// BenchmarkReportIngest measures POST /v1/apps/{app}/reports through the
// handler (parse, attribute, group-committed SQLite write), parallel.
func BenchmarkReportIngest(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.ReportRate, c.ReportBurst = 1e9, 1e9 })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	body, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-android.json"))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bb := bytes.Replace(body, []byte(`"4.2.0"`), []byte(fmt.Sprintf(`"%d"`, n.Add(1))), 1)
			req := httptest.NewRequest("POST", "/v1/apps/shop/reports", bytes.NewReader(bb))
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, req)
			if w.Code != 201 {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
		}
	})
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
