package server

import (
	"container/list"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"pinset.dev/pinset/internal/netkey"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/store"
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
	if !s.shedder.acquirePending() {
		s.shed(w, "too many waiting for their commit")
		return
	}
	defer s.shedder.releasePending()
	if !s.shedder.acquireParse() {
		s.shed(w, "parsing")
		return
	}
	rep, body, ok := s.readReport(w, r, app)
	s.shedder.releaseParse()
	if !ok {
		return
	}
	s.storeReport(w, r, rep, body)
}

// readReport reads and parses a report (holding a parsing slot), and finds
// its app; false when it answered.
func (s *Server) readReport(w http.ResponseWriter, r *http.Request, app string) (*report.Report, []byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, report.MaxSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.m.reports.WithLabelValues("", "too_large").Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLargeMsg)
			return nil, nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "could not read the body")
		return nil, nil, false
	}
	if app != "" && !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return nil, nil, false
	}
	rep, err := report.Parse(body, report.Options{App: app, Now: s.now, Chains: s.chains})
	if err != nil {
		s.m.reports.WithLabelValues("", "invalid").Inc()
		writeError(w, http.StatusBadRequest, "invalid_report", err.Error())
		return nil, nil, false
	}
	if app != "" {
		snap, err := s.docs.get(r.Context(), app)
		if err != nil {
			s.internalError(w, r, err)
			return nil, nil, false
		}
		if snap.missing {
			s.m.reports.WithLabelValues(rep.Format, "unknown_app").Inc()
			writeError(w, http.StatusNotFound, "not_found", "no such app: "+app)
			return nil, nil, false
		}
	} else if rep.App, err = s.attribute(r, rep); err != nil {
		s.m.reports.WithLabelValues(rep.Format, "unknown_app").Inc()
		writeError(w, http.StatusUnprocessableEntity, "unknown_app", err.Error())
		return nil, nil, false
	}
	if ok, wait := s.appLimiter.allow(rep.App); !ok {
		s.m.reports.WithLabelValues(rep.Format, "app_rate_limited").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many reports for this app; retry later")
		return nil, nil, false
	}
	return rep, body, true
}

// storeReport stores a parsed report and answers once it is committed.
func (s *Server) storeReport(w http.ResponseWriter, r *http.Request, rep *report.Report, body []byte) {
	id, dup, err := s.store.AddReport(r.Context(), rep, body, s.now())
	var qe *store.QuotaError
	if errors.As(err, &qe) {
		// Counted by the store (pinset_reports_dropped_total) and here.
		s.m.reports.WithLabelValues(rep.Format, "quota_full").Inc()
		writeError(w, http.StatusInsufficientStorage, "quota_full", qe.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	result, code := "stored", http.StatusCreated
	if dup {
		result, code = "duplicate", http.StatusOK
	}
	s.m.reports.WithLabelValues(rep.Format, result).Inc()
	level := slog.LevelInfo
	if dup {
		// A storm repeats one failure many times: its row and the
		// counters say how often (pinset_reports_total{result="duplicate"}).
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "report", "app", rep.App, "host", rep.Host, "format", rep.Format, "platform", rep.Platform,
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

// clientAddr is the key of the bucket a report counts against: the peer's
// IPv4 address, or the /64 prefix of its IPv6 address (one IPv6 subscriber
// usually holds a whole /64, so per-address buckets would be endless).
// Proxies in front of pinset should rate-limit themselves.
func clientAddr(r *http.Request) string {
	ip, host := remoteIP(r)
	if !ip.IsValid() {
		return host
	}
	return netkey.Client(ip)
}

// remoteIP is the request's peer address, and the host part as written
// (the whole RemoteAddr when it has no port); ip is invalid when the host
// is no IP address.
func remoteIP(r *http.Request) (ip netip.Addr, host string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ = netip.ParseAddr(host)
	return ip, host
}

// limiter is a token bucket per key (a client address or prefix, or an
// app).
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	now     func() time.Time
	max     int
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // most recently used first
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory under a flood from many
// addresses. When it is reached, the least recently used bucket makes room:
// a new address always gets a bucket of its own (it used to share one
// overflow bucket with every other new address, which starved real
// reports). Cycling through more prefixes than this regains a burst; the
// per-app limit bounds what that gains.
const maxBuckets = 100000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, max: maxBuckets, buckets: map[string]*list.Element{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.buckets[key]
	if e == nil {
		if len(l.buckets) >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.buckets, old.Value.(*bucket).key)
		}
		e = l.lru.PushFront(&bucket{key: key, tokens: l.burst, last: now})
		l.buckets[key] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := e.Value.(*bucket)
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
