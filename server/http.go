package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/store"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`           // one line for people: what was refused and why
	Code  string `json:"code"`            // stable machine-readable reason
	Force bool   `json:"force,omitempty"` // the publish gate refused; force=1 overrides
	// Gate is the publish gate's summary, when a manifest upload ran it.
	Gate *check.GateSummary `json:"gate,omitempty"`
	// ForceUnpin: the manifest stops pinning hosts; force_unpin=1
	// overrides (audited and alerted). Unpinned names the hosts.
	ForceUnpin bool             `json:"force_unpin,omitempty"`
	Unpinned   []check.Unpinned `json:"unpinned,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, reason, msg string) {
	writeJSON(w, code, apiError{Error: msg, Code: reason})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

// answer is the HTTP status and code of a refusal for the typed error Err
// of another package (trust, store, device), which makes the decision.
type answer struct {
	Err    error
	Status int
	Code   string
}

// answerFor is the first answer of table whose Err err wraps, else def.
func answerFor(err error, table []answer, def answer) answer {
	for _, a := range table {
		if errors.Is(err, a.Err) {
			return a
		}
	}
	return def
}

// readFailed answers a failed read from the store: 404 with notFound when
// the store has no such thing (store.ErrNotFound), 500 otherwise. It says
// whether it answered (false: err is nil, the caller goes on).
func (s *Server) readFailed(w http.ResponseWriter, r *http.Request, err error, notFound string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", notFound)
	default:
		s.internalError(w, r, err)
	}
	return true
}

// docVersion reads the {N}.json of a document's URL by version: N from 1,
// in decimal without leading zeros.
func docVersion(file string) (v int64, num string, ok bool) {
	num, ok = strings.CutSuffix(file, ".json")
	v, err := strconv.ParseInt(num, 10, 64)
	// ParseInt takes a sign ("+1"): the first byte must be 1 to 9.
	return v, num, ok && err == nil && num[0] >= '1' && num[0] <= '9'
}

// statusWriter records the status for logs and metrics, and the route's
// metrics when the route was registered through routes (see tagRoute).
//
// It also answers in JSON for the mux itself (see muxError).
type statusWriter struct {
	http.ResponseWriter
	code  int
	route *routeMetrics
	req   *http.Request
	// muxErr: the mux's own plain-text error body is being dropped.
	muxErr bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		if w.muxError(code) {
			return
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// muxError answers the requests the mux has no route for as every other
// error is answered, in JSON with a code: 404 not_found, and 405
// method_not_allowed keeping the mux's Allow header. The mux matched no
// pattern (r.Pattern is empty) and is about to write its plain-text
// body, which Write then drops. Matching is left to the mux, once.
func (w *statusWriter) muxError(code int) bool {
	if w.req == nil || w.req.Pattern != "" || (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) {
		return false
	}
	w.muxErr = true
	w.ResponseWriter.Header().Del("X-Content-Type-Options")
	if code == http.StatusNotFound {
		writeError(w.ResponseWriter, code, "not_found", "no such resource")
		return true
	}
	allow := w.ResponseWriter.Header().Get("Allow")
	writeError(w.ResponseWriter, code, "method_not_allowed", logMethod(w.req.Method)+" is not allowed here; use "+allow)
	return true
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.muxErr {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tagRoute wraps the handler of a route so that instrument finds the
// route's metrics without looking its labels up on every request.
func tagRoute(rm *routeMetrics, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = rm
		}
		h.ServeHTTP(w, r)
	})
}

// instrument counts and times requests per route and logs them. It logs
// the method, the route pattern, the path (never the query, headers or
// body, so tokens never reach the logs), the status and the duration.
// Successful public GETs (the document path, by far the busiest) are
// logged at debug level only, so that at the default level they cost one
// Enabled check; errors, uploads and every admin request are logged at
// info.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw := &statusWriter{ResponseWriter: w, req: r}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		d := s.now().Sub(start)
		rm := sw.route
		if rm == nil {
			// Unmatched requests, and routes added by Config.Routes.
			if r.Pattern == "" {
				rm = s.unmatched
			} else {
				rm = s.m.route(r.Pattern)
			}
		}
		rm.observe(r.Method, sw.code, d)
		level := slog.LevelDebug // the hot public paths
		if sw.code >= 400 || r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/v1/admin/") {
			level = slog.LevelInfo
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		s.log.Log(r.Context(), level, "request", "method", logMethod(r.Method), "route", rm.name, "path", r.URL.Path,
			"status", sw.code, "duration_ms", float64(d.Microseconds())/1000, "remote", clientAddr(r))
	})
}

// logMethod is the method as logged: verbatim (it says what a client
// tried), cut to 32 bytes.
func logMethod(m string) string {
	if len(m) > 32 {
		return m[:32] + "..."
	}
	return m
}

func parseTimeParam(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, l := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
