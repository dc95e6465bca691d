package scan

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkScanVsApktool scans each sample APK and, once per sample in the
// same run, times `apktool d` (the decode step other scanners start with)
// as the baseline; it reports both and their ratio. bench/scan.sh does the
// same from the command line, process start included.
//
//	go test ./scan -run XXX -bench ScanVsApktool -benchtime 20x
func BenchmarkScanVsApktool(b *testing.B) {
	dir := samplesDirB(b)
	apktool, err := exec.LookPath("apktool")
	if err != nil {
		if os.Getenv("CI") != "" {
			b.Fatal("apktool not installed (Debian package apktool)")
		}
		b.Skip("apktool not installed: apt-get install apktool")
	}
	apks, _ := filepath.Glob(filepath.Join(dir, "android", "*.apk"))
	for _, apk := range apks {
		b.Run(filepath.Base(apk), func(b *testing.B) {
			out := b.TempDir()
			start := time.Now()
			if err := exec.Command(apktool, "d", "-f", "-o", filepath.Join(out, "d"), apk).Run(); err != nil {
				b.Fatalf("apktool d: %v", err)
			}
			baseline := time.Since(start)
			b.ResetTimer()
			for b.Loop() {
				if _, err := File(apk, Options{Now: fixed}); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(baseline.Milliseconds()), "apktool-ms")
			b.ReportMetric(float64(baseline)/float64(per), "x-faster")
		})
	}
}

func samplesDirB(b *testing.B) string {
	dir := filepath.Join("..", "..", "shared", "samples")
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("real samples not available: %v", err)
	}
	return dir
}
