package monitor

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/store"
)

// MaxResults caps the history rows one request returns.
const MaxResults = 1000

// Routes adds the monitor's read-only admin endpoints to mux, each wrapped
// by admin (the service's authentication):
//
//	GET /v1/admin/monitor/results?host=H&since=RFC3339&limit=N
//	    probe history, newest first: {"results": [store.ProbeResult...]}
//	GET /v1/admin/monitor/alerts
//	    alerts firing now and the remembered resolved ones, newest first:
//	    {"alerts": [alert.Alert...], "resolved": [alert.Alert...],
//	     "resolved_forgotten": N}
func (m *Monitor) Routes(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/admin/monitor/results", admin(http.HandlerFunc(m.serveResults)))
	mux.Handle("GET /v1/admin/monitor/alerts", admin(http.HandlerFunc(m.serveAlerts)))
}

func (m *Monitor) serveResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			httpError(w, http.StatusBadRequest, "since: want an RFC 3339 time such as 2026-03-01T00:00:00Z")
			return
		}
		since = t
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxResults {
			httpError(w, http.StatusBadRequest, "limit: want a number from 1 to "+strconv.Itoa(MaxResults))
			return
		}
		limit = n
	}
	rows, err := m.st.ProbeResults(r.Context(), q.Get("host"), since, limit)
	if err != nil {
		m.cfg.Logger.Error("monitor: reading probe history", "err", err)
		httpError(w, http.StatusInternalServerError, "reading the probe history failed")
		return
	}
	if rows == nil {
		rows = []store.ProbeResult{}
	}
	writeJSON(w, map[string]any{"results": rows})
}

// Alerts returns the alerts firing now (the alert manager's, with the
// time each started).
func (m *Monitor) Alerts() []alert.Alert { return m.cfg.Alerts.Firing() }

// ResolvedAlerts returns the alerts that resolved, newest first, as many
// as the alert manager remembers (alert.Options.History), and how many
// older ones it forgot. They are held in memory: a restart forgets them.
func (m *Monitor) ResolvedAlerts() ([]alert.Alert, int64) { return m.cfg.Alerts.Resolved() }

func (m *Monitor) serveAlerts(w http.ResponseWriter, r *http.Request) {
	firing := m.Alerts()
	if firing == nil {
		firing = []alert.Alert{}
	}
	resolved, forgotten := m.ResolvedAlerts()
	writeJSON(w, map[string]any{"alerts": firing, "resolved": resolved, "resolved_forgotten": forgotten})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
