package server

import "testing"

// TestDocVersion: a document by version has one URL, {N}.json with N from
// 1 in decimal without leading zeros (roots and logged manifests alike).
func TestDocVersion(t *testing.T) {
	for file, want := range map[string]int64{
		"1.json": 1, "42.json": 42, "9223372036854775807.json": 1<<63 - 1,
		"0.json": 0, "01.json": 0, "-1.json": 0, "1": 0, ".json": 0, "x.json": 0,
		"1.json.json": 0, "1.JSON": 0, " 1.json": 0, "9223372036854775808.json": 0,
		"+1.json": 0, "+01.json": 0, // ParseInt takes a sign: one version, one spelling
	} {
		v, num, ok := docVersion(file)
		if ok != (want > 0) || ok && (v != want || num+".json" != file) {
			t.Errorf("%q: %d %q %v, want %d", file, v, num, ok, want)
		}
	}
}
