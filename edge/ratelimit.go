package edge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"pinset.dev/pinset/internal/netkey"
)

// Rate is one limit: Requests per Period, with bursts of up to Burst
// requests (default Requests). It is enforced with GCRA, the generic cell
// rate algorithm: a client may send Burst requests at once, then one every
// Period/Requests.
type Rate struct {
	Requests int
	Period   time.Duration
	Burst    int
}

func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Requests
}

// Decision is a limiter's answer for one request.
type Decision struct {
	Allowed    bool
	Remaining  int           // requests left in the current burst
	RetryAfter time.Duration // when refused: how long until one request is allowed
	ResetAfter time.Duration // how long until the full burst is available again
}

// Limiter takes one request's cost from key's budget under rate.
type Limiter interface {
	Allow(ctx context.Context, key string, rate Rate) (Decision, error)
}

// ErrLimiterFull is returned by the memory limiter when it holds MaxKeys
// keys that are all still limited; the edge refuses the request (503)
// rather than forget a limit.
var ErrLimiterFull = errors.New("edge: rate limiter is full")

// MemoryLimiter is GCRA in memory, for one edge instance. Keys whose
// budget is whole again are forgotten (they are the same as new keys).
type MemoryLimiter struct {
	Now     func() time.Time
	MaxKeys int // default 1,000,000

	mu    sync.Mutex
	tat   map[string]time.Time // theoretical arrival time per key
	swept time.Time
}

// Allow implements Limiter.
func (m *MemoryLimiter) Allow(_ context.Context, key string, rate Rate) (Decision, error) {
	if rate.Requests <= 0 || rate.Period <= 0 {
		return Decision{}, fmt.Errorf("edge: rate %d per %s is not a limit", rate.Requests, rate.Period)
	}
	now := m.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tat == nil {
		m.tat = map[string]time.Time{}
	}
	m.sweep(now)
	emission := rate.Period / time.Duration(rate.Requests)
	burst := emission * time.Duration(rate.burst())
	tat, ok := m.tat[key]
	if !ok {
		max := m.MaxKeys
		if max == 0 {
			max = 1_000_000
		}
		if len(m.tat) >= max {
			return Decision{}, ErrLimiterFull
		}
	}
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(emission)
	diff := now.Sub(next.Add(-burst))
	if diff < 0 {
		return Decision{Allowed: false, RetryAfter: -diff, ResetAfter: tat.Sub(now)}, nil
	}
	m.tat[key] = next
	return Decision{Allowed: true, Remaining: int(diff / emission), ResetAfter: next.Sub(now)}, nil
}

// sweep forgets keys whose budget is whole again, at most once a second.
func (m *MemoryLimiter) sweep(now time.Time) {
	if now.Sub(m.swept) < time.Second {
		return
	}
	m.swept = now
	for k, t := range m.tat {
		if !t.After(now) {
			delete(m.tat, k)
		}
	}
}

// RedisLimiter is GCRA in Redis (github.com/go-redis/redis_rate), shared by
// every edge instance that uses the same Redis: the script runs atomically
// in Redis on Redis's clock, so instances need no clock agreement.
type RedisLimiter struct {
	l *redis_rate.Limiter
}

// NewRedisLimiter limits through the Redis client c; keys are prefixed
// with "pinset-edge:".
func NewRedisLimiter(c *redis.Client) *RedisLimiter {
	return &RedisLimiter{l: redis_rate.NewLimiter(c)}
}

// Allow implements Limiter.
func (r *RedisLimiter) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	res, err := r.l.Allow(ctx, "pinset-edge:"+key, redis_rate.Limit{Rate: rate.Requests, Period: rate.Period, Burst: rate.burst()})
	if err != nil {
		return Decision{}, fmt.Errorf("edge: rate limit in redis: %w", err)
	}
	d := Decision{Allowed: res.Allowed > 0, Remaining: res.Remaining, ResetAfter: res.ResetAfter}
	if !d.Allowed {
		d.RetryAfter = res.RetryAfter
	}
	return d, nil
}

// AddrKey is the rate-limit key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// per-address limits on IPv6 would be no limit). IPv4-mapped IPv6
// addresses count as IPv4.
func AddrKey(a netip.Addr) string { return netkey.Client(a) }
