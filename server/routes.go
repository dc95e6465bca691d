package server

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) routes() {
	mux := http.NewServeMux()
	// The admin API and the console go on their own mux when they have
	// their own listener (admin_listener.go), else on the one mux.
	adminMux := mux
	if s.cfg.AdminListener != nil {
		adminMux = http.NewServeMux()
	}
	pub := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, tagRoute(s.m.route(pattern), h)) }
	adm := func(pattern string, h http.HandlerFunc) {
		adminMux.Handle(pattern, tagRoute(s.m.route(pattern), s.admin(h)))
	}

	pub("GET /v1/apps/{app}/root.json", s.handleRootLatest)
	pub("GET /v1/apps/{app}/roots/{file}", s.handleRootVersion)
	pub("GET /v1/apps/{app}/pins.json", s.handleManifest)
	pub("GET /v1/apps/{app}/log/checkpoint", s.handleLogCheckpoint)
	pub("GET /v1/apps/{app}/log/tile/{path...}", s.handleLogTile)
	pub("GET /v1/apps/{app}/log/manifests/{file}", s.handleLogManifest)
	pub("POST /v1/reports", s.handleReport)
	pub("POST /v1/apps/{app}/reports", s.handleReport)

	adm("PUT /v1/admin/apps/{app}/root", s.handlePutRoot)
	adm("PUT /v1/admin/apps/{app}/pins", s.handlePutPins)
	adm("GET /v1/admin/apps", s.handleApps)
	adm("GET /v1/admin/apps/{app}/manifests", s.handleManifestHistory)
	adm("GET /v1/admin/apps/{app}/reports", s.handleAdminReports)
	adm("GET /v1/admin/reports/{id}/raw", s.handleRawReport)
	adm("GET /v1/admin/reports/{id}/samples", s.handleReportSamples)
	adm("GET /v1/admin/apps/{app}/report-counts", s.handleReportCounts)
	adm("GET /v1/admin/apps/{app}/adoption", s.handleAdoption)
	s.rotationRoutes(adm)
	s.deviceRoutes(pub, adm)

	if s.cfg.MetricsListener == nil {
		mux.Handle("GET /metrics", tagRoute(s.m.route("GET /metrics"), s.metricsHandler()))
	}
	pub("GET /healthz", handleHealth)
	pub("GET /readyz", s.handleReady)
	if adminMux != mux {
		adminMux.Handle("GET /healthz", tagRoute(s.m.route("GET /healthz"), http.HandlerFunc(handleHealth)))
		adminMux.Handle("GET /readyz", tagRoute(s.m.route("GET /readyz"), http.HandlerFunc(s.handleReady)))
	}
	if s.cfg.Routes != nil {
		s.cfg.Routes(adminMux, s.admin)
	}
	if s.console != nil {
		adminMux.Handle("/console/", s.console)
	}
	s.unmatched = s.m.route("unmatched")
	s.mux = mux
	s.handler = s.instrument(mux)
	s.adminHandler = s.handler
	if adminMux != mux {
		s.adminHandler = s.instrument(adminMux)
	}
}

func handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": s.store.Backend()})
}
