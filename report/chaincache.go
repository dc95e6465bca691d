package report

import (
	"crypto/sha256"
	"sync"
)

// ChainCache remembers parsed certificate chains by the SHA-256 of their
// exact JSON bytes, so that a storm of reports carrying the same chain
// parses its certificates once: a hit returns what parsing those same bytes
// returned before, so it cannot accept anything a parse would refuse
// (refused chains are not cached). It is bounded by the bytes of the chains
// it holds; when full it forgets entries to make room. Safe for concurrent
// use; the zero value is not usable, use [NewChainCache].
type ChainCache struct {
	mu      sync.Mutex
	max     int
	size    int
	entries map[[sha256.Size]byte]cachedChain
	hits    uint64
	misses  uint64
}

type cachedChain struct {
	certs []Cert
	size  int
}

// DefaultChainCacheBytes is the chain cache size Parse callers should use
// unless they know better: 8 MiB holds about 4,000 typical chains.
const DefaultChainCacheBytes = 8 << 20

// NewChainCache returns a cache holding chains of at most maxBytes JSON
// bytes in total.
func NewChainCache(maxBytes int) *ChainCache {
	return &ChainCache{max: maxBytes, entries: map[[sha256.Size]byte]cachedChain{}}
}

// Stats returns the lookups answered from the cache and those that parsed.
func (c *ChainCache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func (c *ChainCache) get(k [sha256.Size]byte) ([]Cert, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok {
		c.hits++
		return append([]Cert(nil), e.certs...), true
	}
	c.misses++
	return nil, false
}

func (c *ChainCache) put(k [sha256.Size]byte, size int, certs []Cert) {
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	for old, e := range c.entries {
		if c.size+size <= c.max {
			break
		}
		delete(c.entries, old)
		c.size -= e.size
	}
	c.entries[k] = cachedChain{certs: append([]Cert(nil), certs...), size: size}
	c.size += size
}
