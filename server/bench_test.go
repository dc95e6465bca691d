package server

import (
	"bytes"
	"fmt"
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
