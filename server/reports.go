package server

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"pinset.dev/pinset/report"
)

// handleReport ingests one pin-failure report (any shape package report
// reads). The order of checks makes abuse cheap to refuse: rate limit,
// declared size, read with a cap, parse, attribute, store. The 2xx answer
// is written only after the store committed the report.
// tooLargeMsg states the one report size limit, report.MaxSize.
var tooLargeMsg = "a report is at most " + strconv.Itoa(report.MaxSize) + " bytes"

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if ok, wait := s.limiter.allow(clientAddr(r)); !ok {
		s.m.reports.WithLabelValues("", "rate_limited").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many reports from this address; retry later")
		return
	}
	if r.ContentLength > report.MaxSize {
		s.m.reports.WithLabelValues("", "too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLargeMsg)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, report.MaxSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.m.reports.WithLabelValues("", "too_large").Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLargeMsg)
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "could not read the body")
		return
	}
	if app != "" && !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return
	}
	rep, err := report.Parse(body, report.Options{App: app, Now: s.now})
	if err != nil {
		s.m.reports.WithLabelValues("", "invalid").Inc()
		writeError(w, http.StatusBadRequest, "invalid_report", err.Error())
		return
	}
	if app != "" {
		snap, err := s.docs.get(r.Context(), app)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if snap.missing {
			s.m.reports.WithLabelValues(rep.Format, "unknown_app").Inc()
			writeError(w, http.StatusNotFound, "not_found", "no such app: "+app)
			return
		}
	} else if rep.App, err = s.attribute(r, rep); err != nil {
		s.m.reports.WithLabelValues(rep.Format, "unknown_app").Inc()
		writeError(w, http.StatusUnprocessableEntity, "unknown_app", err.Error())
		return
	}
	id, dup, err := s.store.AddReport(r.Context(), rep, body, s.now())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	result, code := "stored", http.StatusCreated
	if dup {
		result, code = "duplicate", http.StatusOK
	}
	s.m.reports.WithLabelValues(rep.Format, result).Inc()
	s.log.Info("report", "app", rep.App, "host", rep.Host, "format", rep.Format, "platform", rep.Platform,
		"result", result, "id", id)
	writeJSON(w, code, map[string]any{"id": id, "duplicate": dup, "app": rep.App})
}

// attribute finds the app of a report posted to /v1/reports: the app whose
// id is the report's bundle id, else the one app whose current manifest
// covers the host.
func (s *Server) attribute(r *http.Request, rep *report.Report) (string, error) {
	if rep.BundleID != "" && validApp(rep.BundleID) {
		if snap, err := s.docs.get(r.Context(), rep.BundleID); err == nil && !snap.missing {
			return rep.BundleID, nil
		}
	}
	apps, err := s.store.Apps(r.Context())
	if err != nil {
		return "", err
	}
	var found []string
	for _, a := range apps {
		snap, err := s.docs.get(r.Context(), a.ID)
		if err != nil || snap.policies == nil {
			continue
		}
		if _, ok := snap.policies.Match(rep.Host); ok {
			found = append(found, a.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", errors.New("no app covers host " + rep.Host + " and the report names none: post it to /v1/apps/{app}/reports")
	default:
		return "", errors.New("several apps cover host " + rep.Host + ": post the report to /v1/apps/{app}/reports")
	}
}

// clientAddr is the address rate limits apply to: the peer's IP (proxies
// in front of pinset should rate-limit themselves).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter is a per-address token bucket.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory under a flood from many
// addresses; when reached, idle buckets are swept and, failing that, new
// addresses share one bucket.
const maxBuckets = 100000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for addr, or says how long until one is available.
func (l *limiter) allow(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		if len(l.buckets) >= maxBuckets {
			addr = "overflow"
			b = l.buckets[addr]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[addr] = b
		}
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep drops buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
}
