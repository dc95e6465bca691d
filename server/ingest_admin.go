package server

import (
	"net/http"
	"time"

	"pinset.dev/pinset/store"
)

// handleReportCounts answers the counters kept on ingest for an app
// (store.Store.ReportCounts): reports per host, served key, app version,
// platform and minute of arrival in [since, until) (default: the last
// hour), at most store.MaxReportCounts rows, oldest first; truncated says
// when more matched.
func (s *Server) handleReportCounts(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.knownApp(w, r, app) {
		return
	}
	q := r.URL.Query()
	since, ok1 := parseTimeParam(q.Get("since"))
	until, ok2 := parseTimeParam(q.Get("until"))
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "bad_request", "since and until take RFC 3339 times or yyyy-mm-dd dates")
		return
	}
	if until.IsZero() {
		until = s.now().Add(time.Minute)
	}
	if since.IsZero() {
		since = until.Add(-time.Hour)
	}
	counts, err := s.store.ReportCounts(r.Context(), app, since, until, store.MaxReportCounts)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "since": since.UTC(), "until": until.UTC(),
		"counts": counts, "truncated": len(counts) == store.MaxReportCounts})
}

// sampleJSON is one raw body kept for a report; raw is base64 (the body
// is whatever the client sent).
type sampleJSON struct {
	Arrival  int64     `json:"arrival"` // 0: the latest
	Received time.Time `json:"received"`
	Raw      []byte    `json:"raw"`
}

// handleReportSamples answers the raw bodies kept for one stored report:
// its first arrivals and the latest (store.Store.ReportSamples).
func (s *Server) handleReportSamples(w http.ResponseWriter, r *http.Request) {
	id, ss, ok := storedReport(s, w, r, s.store.ReportSamples)
	if !ok {
		return
	}
	out := make([]sampleJSON, len(ss))
	for i, x := range ss {
		out[i] = sampleJSON{x.Arrival, x.Received, x.Raw}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "samples": out})
}
