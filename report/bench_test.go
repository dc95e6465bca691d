package report

import "testing"

// BenchmarkParse: one TrustKit-Android report as in a storm, its chain a
// hit of the chain cache (the service's case after the first arrival).
func BenchmarkParse(b *testing.B) {
	body := readFixture(b, "trustkit-android.json")
	cache := NewChainCache(1 << 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body, Options{App: "shop", Now: fixedNow, Chains: cache}); err != nil {
			b.Fatal(err)
		}
	}
}
