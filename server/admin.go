package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

type ctxKey int

const tokenNameKey ctxKey = 0

// admin wraps h with the admin checks: a client certificate verified
// against Config.AdminClientCAs when configured, then a live bearer token.
// The token is compared by the store in constant time and never logged.
func (s *Server) admin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.AdminTransport(r); err != nil {
			writeError(w, http.StatusForbidden, "client_certificate_required", err.Error())
			return
		}
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			s.m.authFailures.WithLabelValues("missing").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="pinset admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token: send Authorization: Bearer TOKEN (create one with 'pinset token new')")
			return
		}
		name, err := s.AdminToken(r.Context(), secret)
		if errors.Is(err, ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pinset admin", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithTokenName(r.Context(), name)))
	})
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func tokenName(ctx context.Context) string {
	n, _ := ctx.Value(tokenNameKey).(string)
	return n
}

// PublishError is a refused publication: the HTTP status, a stable code
// and the reason.
type PublishError struct {
	Status int
	Code   string
	Err    error
	Force  bool // the publish gate refused; forcing would publish
	// Gate is the publish gate's summary when it ran.
	Gate *check.GateSummary
	// ForceUnpin: the drop gate refused; force_unpin=1 would publish.
	ForceUnpin bool
	// Unpinned are the hosts the refused manifest would stop pinning.
	Unpinned []check.Unpinned
}

func (e *PublishError) Error() string { return e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

// classify maps a trust or store error to the answer: 409 for version
// conflicts (rollback, equivocation, a concurrent publish), 413 for size,
// 422 for everything a client would refuse.
func classify(what string, err error) *PublishError {
	a := answerFor(err, publishAnswers, answer{Status: http.StatusUnprocessableEntity, Code: "refused"})
	return &PublishError{Status: a.Status, Code: a.Code, Err: fmt.Errorf("%s refused: %w", what, err)}
}

// publishAnswers are classify's answers, the first that matches decides.
var publishAnswers = []answer{
	{trust.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{trust.ErrMalformed, http.StatusBadRequest, "malformed"},
	{trust.ErrPayloadType, http.StatusUnprocessableEntity, "wrong_payload_type"},
	{trust.ErrThreshold, http.StatusUnprocessableEntity, "threshold_not_met"},
	{trust.ErrAlgorithm, http.StatusUnprocessableEntity, "bad_algorithm"},
	{trust.ErrWrongApp, http.StatusUnprocessableEntity, "wrong_app"},
	{trust.ErrBelowFloor, http.StatusConflict, "rollback"},
	{trust.ErrRollback, http.StatusConflict, "rollback"},
	{trust.ErrEquivocation, http.StatusConflict, "equivocation"},
	{trust.ErrRootVersionGap, http.StatusConflict, "root_version_gap"},
	{trust.ErrRootMismatch, http.StatusUnprocessableEntity, "root_mismatch"},
	{trust.ErrExpired, http.StatusUnprocessableEntity, "expired"},
	{trust.ErrIssuedInFuture, http.StatusUnprocessableEntity, "issued_in_future"},
	{trust.ErrInvalidDocument, http.StatusUnprocessableEntity, "invalid_document"},
	{trust.ErrExpiresBeforeIssued, http.StatusUnprocessableEntity, "invalid_document"},
	{store.ErrConflict, http.StatusConflict, "conflict"},
	{store.ErrNotFound, http.StatusConflict, "no_root"},
}

func readEnvelope(r *http.Request) ([]byte, error) {
	b, err := trust.ReadEnvelope(r.Body)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Server) handlePutRoot(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	b, err := readEnvelope(r)
	if err == nil {
		var res *PublishResult
		res, err = s.PublishRoot(r.Context(), app, b)
		if err == nil {
			s.log.Info("published root", "app", app, "version", res.Version, "changed", res.Changed, "token", tokenName(r.Context()))
			writeJSON(w, publishStatus(res), res)
			return
		}
	}
	s.refuse(w, r, "root", app, err)
}

func (s *Server) handlePutPins(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	q := r.URL.Query()
	force := q.Get("force") == "1" || q.Get("force") == "true" || r.Header.Get("Pinset-Force") == "1"
	forceUnpin := q.Get("force_unpin") == "1" || q.Get("force_unpin") == "true" || r.Header.Get("Pinset-Force-Unpin") == "1"
	b, err := readEnvelope(r)
	if err == nil {
		var res *PublishResult
		res, err = s.PublishManifest(r.Context(), app, b, PublishOptions{Force: force, ForceUnpin: forceUnpin})
		if err == nil {
			s.log.Info("published manifest", "app", app, "version", res.Version, "changed", res.Changed,
				"forced", res.Forced, "unpinned", len(res.Unpinned), "token", tokenName(r.Context()))
			writeJSON(w, publishStatus(res), res)
			return
		}
	}
	s.refuse(w, r, "manifest", app, err)
}

func publishStatus(res *PublishResult) int {
	if res.Changed {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, what, app string, err error) {
	var pe *PublishError
	if !errors.As(err, &pe) {
		pe = classify(what, err)
	}
	if pe.Status >= 500 {
		s.internalError(w, r, err)
		return
	}
	s.m.publishes.WithLabelValues(what, pe.Code).Inc()
	s.log.Warn("publication refused", "what", what, "app", app, "code", pe.Code, "reason", pe.Error(), "token", tokenName(r.Context()))
	writeJSON(w, pe.Status, apiError{Error: pe.Error(), Code: pe.Code, Force: pe.Force, Gate: pe.Gate,
		ForceUnpin: pe.ForceUnpin, Unpinned: pe.Unpinned})
}

// appInfo is one entry of GET /v1/admin/apps.
type appInfo struct {
	store.App
	ManifestExpires string `json:"manifest_expires,omitempty"`
	RootExpires     string `json:"root_expires,omitempty"`
}

func (s *Server) handleApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.store.Apps(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]appInfo, 0, len(apps))
	for _, a := range apps {
		info := appInfo{App: a}
		if snap, err := s.docs.get(r.Context(), a.ID); err == nil && !snap.missing {
			if snap.manifest != nil {
				info.ManifestExpires = snap.manifest.expires.UTC().Format("2006-01-02T15:04:05Z")
			}
			if snap.root != nil {
				info.RootExpires = snap.root.expires.UTC().Format("2006-01-02T15:04:05Z")
			}
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
}

// knownApp answers 404 not_found for an app that does not exist, as the
// public documents and report ingestion do, and says whether it exists.
// Listings of an app that exists but has nothing yet are empty, not 404.
func (s *Server) knownApp(w http.ResponseWriter, r *http.Request, app string) bool {
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return false
	}
	snap, err := s.docs.get(r.Context(), app)
	if err != nil {
		s.internalError(w, r, err)
		return false
	}
	if snap.missing {
		writeError(w, http.StatusNotFound, "not_found", "no such app: "+app)
		return false
	}
	return true
}

func (s *Server) handleManifestHistory(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.knownApp(w, r, app) {
		return
	}
	ms, err := s.store.Manifests(r.Context(), app)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if ms == nil {
		ms = []store.Document{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "manifests": ms})
}

func (s *Server) handleAdminReports(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.knownApp(w, r, app) {
		return
	}
	q := r.URL.Query()
	rq := store.ReportQuery{App: app, Platform: q.Get("platform")}
	if h := q.Get("host"); h != "" {
		nh, err := policy.NormalizeHost(h)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "host: "+err.Error())
			return
		}
		rq.Host = nh
	}
	var ok1, ok2 bool
	rq.Since, ok1 = parseTimeParam(q.Get("since"))
	rq.Until, ok2 = parseTimeParam(q.Get("until"))
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "bad_request", "since and until take RFC 3339 times or yyyy-mm-dd dates")
		return
	}
	for name, dst := range map[string]*int64{"before": &rq.BeforeID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				writeError(w, http.StatusBadRequest, "bad_request", name+" must be a report id")
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be 1 to 1000")
			return
		}
		rq.Limit = n
	}
	reports, err := s.store.Reports(r.Context(), rq)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	agg, err := s.store.Aggregate(r.Context(), rq)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "reports": reports, "aggregates": agg})
}

func (s *Server) handleRawReport(w http.ResponseWriter, r *http.Request) {
	_, raw, ok := storedReport(s, w, r, s.store.RawReport)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment")
	w.Write(raw)
}

// storedReport reads what get returns for the stored report named by the
// request's {id}; a bad or unknown id answers 404, a store failure 500
// (ok false: the answer is written).
func storedReport[T any](s *Server, w http.ResponseWriter, r *http.Request, get func(context.Context, int64) (T, error)) (id int64, v T, ok bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		v, err = get(r.Context(), id)
	}
	switch {
	case err == nil:
		return id, v, true
	case errors.Is(err, store.ErrNotFound), errors.Is(err, strconv.ErrSyntax), errors.Is(err, strconv.ErrRange):
		writeError(w, http.StatusNotFound, "not_found", "no such report")
	default:
		s.internalError(w, r, err)
	}
	return id, v, false
}
