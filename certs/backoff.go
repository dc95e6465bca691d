package certs

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
)

// MaxRetries bounds how often one request is sent again.
const MaxRetries = 10

// Backoff is the retry policy Issue gives x/crypto/acme
// (acme.Client.RetryBackoff). x/crypto/acme calls it after a refused
// request that may be retried: a badNonce (400; the client has already
// dropped its nonces), 429 Too Many Requests, or a 5xx. Next returns how
// long to wait before sending the request again; zero or less stops, and
// the CA's error is returned.
type Backoff struct {
	// MaxRetryAfter is the longest Retry-After honoured.
	MaxRetryAfter time.Duration
	// Deadline, when set, is when the caller gives up: a wait past it is
	// not started.
	Deadline time.Time
	// Now is the clock for Deadline and HTTP-date Retry-After values; nil
	// means time.Now.
	Now func() time.Time

	retries, badNonces atomic.Int64
	mu                 sync.Mutex
	refused            time.Duration // the Retry-After that was not waited for
}

// Next implements acme.Client.RetryBackoff.
func (b *Backoff) Next(n int, _ *http.Request, res *http.Response) time.Duration {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	if n > MaxRetries {
		return 0
	}
	var d time.Duration
	switch {
	case res.StatusCode == http.StatusBadRequest:
		// Only badNonce is retried with a 400: a fresh nonce is all it
		// needs, so the request goes again at once (RFC 8555 §6.5).
		b.badNonces.Add(1)
		d = time.Millisecond
	case res.Header.Get("Retry-After") != "":
		d = RetryAfter(res.Header.Get("Retry-After"), now())
		if d > b.MaxRetryAfter || (!b.Deadline.IsZero() && now().Add(d).After(b.Deadline)) {
			b.mu.Lock()
			b.refused = d
			b.mu.Unlock()
			return 0
		}
		if d <= 0 {
			d = time.Millisecond
		}
	default:
		// 5xx or 429 without Retry-After: 1s, 2s, 4s, ... up to 30s.
		d = min(time.Second<<min(n-1, 5), 30*time.Second)
	}
	if !b.Deadline.IsZero() && now().Add(d).After(b.Deadline) {
		return 0
	}
	b.retries.Add(1)
	return d
}

// explain turns the CA's error into a RateLimitError when the last refusal
// carried a Retry-After that was not waited for.
func (b *Backoff) explain(err error) error {
	b.mu.Lock()
	d := b.refused
	b.mu.Unlock()
	var ae *acme.Error
	if d > 0 && errors.As(err, &ae) {
		return &RateLimitError{RetryAfter: d, Err: err}
	}
	return err
}

// RetryAfter reads a Retry-After value: seconds, or an HTTP date (relative
// to now). Unreadable or negative values are zero.
func RetryAfter(v string, now time.Time) time.Duration {
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<30)) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}
