package server

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// Load shedding on report ingestion. A report storm must not slow down
// what clients need to keep working: manifest and root GETs. Reports take
// CPU to read and parse (TLS, JSON, certificates) and a place in the
// store's group commit; when either is full a report is answered at once
// with 503 overloaded and Retry-After, before its body is read, and
// counted (pinset_reports_received_total{result="shed"}). Clients (the SDK,
// TrustKit) keep the report and send it later.
//
//   - parsing: at most ReportParsers reports are read and parsed at once
//     (default GOMAXPROCS-1, at least 1: a core stays for everything else);
//     a report waits at most ReportParseWait (default 20ms) for its turn;
//   - committing: at most ReportPending reports wait for their commit
//     (default 1024).

// Defaults of the shedding limits.
const (
	DefaultReportParseWait = 20 * time.Millisecond
	DefaultReportPending   = 1024
)

// shedder holds the two limits.
type shedder struct {
	parse   chan struct{}
	wait    time.Duration
	pending atomic.Int64
	max     int64
}

func newShedder(parsers int, wait time.Duration, pending int) *shedder {
	if parsers <= 0 {
		parsers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if wait <= 0 {
		wait = DefaultReportParseWait
	}
	if pending <= 0 {
		pending = DefaultReportPending
	}
	return &shedder{parse: make(chan struct{}, parsers), wait: wait, max: int64(pending)}
}

// acquireParse takes a parsing slot, waiting at most sh.wait; false: shed.
func (sh *shedder) acquireParse() bool {
	select {
	case sh.parse <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(sh.wait)
	defer t.Stop()
	select {
	case sh.parse <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (sh *shedder) releaseParse() { <-sh.parse }

// acquirePending takes a place among the reports waiting for a commit;
// false: shed.
func (sh *shedder) acquirePending() bool {
	if sh.pending.Add(1) > sh.max {
		sh.pending.Add(-1)
		return false
	}
	return true
}

func (sh *shedder) releasePending() { sh.pending.Add(-1) }

// shed answers a report the service has no room for now.
func (s *Server) shed(w http.ResponseWriter, what string) {
	s.m.reports.WithLabelValues("", "shed").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(1))
	writeError(w, http.StatusServiceUnavailable, "overloaded", "the service is busy with other reports ("+what+"); retry later")
}
