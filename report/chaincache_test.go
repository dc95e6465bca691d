package report

import (
	"reflect"
	"strings"
	"testing"
)

// TestChainCache: a cached parse returns exactly what an uncached one does,
// parses each distinct chain once, never caches a refused chain, hands out
// copies, and stays within its byte bound.
func TestChainCache(t *testing.T) {
	c := NewChainCache(DefaultChainCacheBytes)
	files := []string{"trustkit-ios.json", "trustkit-android.json", "hpkp.json", "pinset-go.json"}
	var afterFirst uint64
	for round := range 2 {
		if round == 1 {
			_, afterFirst = c.Stats()
		}
		for _, n := range files {
			body := readFixture(t, n)
			want, err := Parse(body, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(body, Options{Now: fixedNow, Chains: c})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, %s: cached parse differs:\n%+v\n%+v", round, n, got, want)
			}
		}
	}
	hits, misses := c.Stats()
	if misses == 0 || misses != afterFirst || hits == 0 {
		t.Errorf("hits %d, misses %d (%d after the first round): want each chain parsed in the first round only", hits, misses, afterFirst)
	}

	// A returned chain is the caller's: changing it leaves the cache alone.
	body := readFixture(t, "trustkit-android.json")
	r1, _ := Parse(body, Options{Now: fixedNow, Chains: c})
	r1.ServedChain[0].Subject = "changed"
	r2, _ := Parse(body, Options{Now: fixedNow, Chains: c})
	if r2.ServedChain[0].Subject == "changed" {
		t.Error("the cache hands out its own slice")
	}

	// A refused chain is refused every time and not cached.
	bad := strings.Replace(string(body), "MII", "XII", 1)
	for range 2 {
		if _, err := Parse([]byte(bad), Options{Now: fixedNow, Chains: c}); err == nil {
			t.Fatal("corrupt certificate accepted")
		}
	}
	if _, m := c.Stats(); m != misses+2 {
		t.Errorf("refused chain: misses %d, want %d (looked up and parsed each time)", m, misses+2)
	}

	// Bounded: a cache smaller than two chains holds one.
	small := NewChainCache(len(body))
	for _, n := range files {
		Parse(readFixture(t, n), Options{Now: fixedNow, Chains: small})
		if small.size > small.max {
			t.Fatalf("cache holds %d bytes, bound %d", small.size, small.max)
		}
	}
}
