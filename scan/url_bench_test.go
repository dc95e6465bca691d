package scan

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// urlIPA writes an IPA whose app bundle holds files JSON files of perFile
// distinct http:// URLs each (no URL in two files).
func urlIPA(tb testing.TB, dir string, files, perFile int) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("Payload/App.app/Info.plist")
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CFBundleIdentifier</key><string>com.example</string></dict></plist>`))
	for f := range files {
		w, _ := zw.Create(fmt.Sprintf("Payload/App.app/config%04d.json", f))
		for u := range perFile {
			fmt.Fprintf(w, "\"http://h%d.f%d.example.com/p\",\n", u, f)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("urls-%dx%d.ipa", files, perFile))
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkScanManyURLs scans IPAs full of distinct http:// URLs: 40,000
// in 80 files, and 400 files of 500 each (200,000). Each finding was once
// checked against every earlier one, so the time grew with the square of
// the number of URLs.
//
//	go test ./scan -run XXX -bench ScanManyURLs -benchtime 3x
func BenchmarkScanManyURLs(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct{ files, perFile int }{{80, 500}, {400, 500}} {
		ipa := urlIPA(b, dir, c.files, c.perFile)
		b.Run(fmt.Sprintf("urls=%d/files=%d", c.files*c.perFile, c.files), func(b *testing.B) {
			for b.Loop() {
				r, err := File(ipa, Options{Now: fixed})
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Findings) == 0 {
					b.Fatal("no findings")
				}
			}
		})
	}
}
