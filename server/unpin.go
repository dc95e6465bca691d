package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// maxUnpinHistory bounds the earlier manifests read to learn since when a
// host has been report-only; a longer run within the period counts from
// the oldest one read, which only makes the drop gate stricter.
const maxUnpinHistory = 200

func (s *Server) unpinPeriod() time.Duration {
	if s.cfg.UnpinPeriod == nil {
		return check.DefaultUnpinPeriod
	}
	return *s.cfg.UnpinPeriod
}

// manifestHistory returns the published manifests check.DropGate needs,
// newest first, starting with cur: the earlier ones only when cur has a
// report-only host, back to the first one published at or before
// now-period.
func (s *Server) manifestHistory(ctx context.Context, app string, cur store.Document, now time.Time) ([]check.Published, error) {
	period := s.unpinPeriod()
	m, err := trust.DecodeManifestUnverified(cur.Body)
	if err != nil {
		return nil, fmt.Errorf("stored manifest v%d: %w", cur.Version, err)
	}
	out := []check.Published{{Version: m.Version, Hosts: m.Hosts, At: cur.CreatedAt}}
	reportOnly := false
	for _, p := range m.Hosts {
		reportOnly = reportOnly || p.ReportOnly
	}
	cutoff := now.Add(-period)
	if !reportOnly || !cur.CreatedAt.After(cutoff) {
		return out, nil
	}
	list, err := s.store.Manifests(ctx, app)
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		if d.Version >= cur.Version {
			continue
		}
		if len(out) >= maxUnpinHistory {
			break
		}
		full, err := s.store.ManifestVersion(ctx, app, d.Version)
		if err != nil {
			return nil, fmt.Errorf("manifest v%d: %w", d.Version, err)
		}
		old, err := trust.DecodeManifestUnverified(full.Body)
		if err != nil {
			return nil, fmt.Errorf("stored manifest v%d: %w", d.Version, err)
		}
		out = append(out, check.Published{Version: old.Version, Hosts: old.Hosts, At: full.CreatedAt})
		if !full.CreatedAt.After(cutoff) {
			break
		}
	}
	return out, nil
}

// dropGate asks check.DropGate whether m may replace cur. It returns the
// hosts a forced publication unpins (nil when none), or the refusal.
func (s *Server) dropGate(ctx context.Context, app string, cur store.Document, m *trust.Manifest, now time.Time, force bool) ([]check.Unpinned, error) {
	hist, err := s.manifestHistory(ctx, app, cur, now)
	if err != nil {
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	}
	derr := check.DropGate(hist, m.Hosts, now, s.unpinPeriod())
	if derr == nil {
		return nil, nil
	}
	var ue *check.UnpinError
	if !errors.As(derr, &ue) {
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: derr}
	}
	if !force {
		return nil, &PublishError{Status: http.StatusConflict, Code: "unpin", ForceUnpin: true, Unpinned: ue.Hosts,
			Err: fmt.Errorf("manifest v%d refused: %w; an admin may force it with force_unpin=1, which is logged and alerted", m.Version, derr)}
	}
	return ue.Hosts, nil
}

// auditUnpin records a forced unpinning: a WARN line naming who (the
// token's name) unpinned what, and pinset_manifest_unpins_forced_total.
// The monitor's PinsetHostUnpinned alert fires from the manifest history.
func (s *Server) auditUnpin(ctx context.Context, app string, version uint64, hosts []check.Unpinned) {
	patterns := make([]string, len(hosts))
	for i, h := range hosts {
		patterns[i] = h.Reason
	}
	s.m.unpins.WithLabelValues(app).Inc()
	s.log.Warn("unpinning forced", "app", app, "version", version, "token", tokenName(ctx), "hosts", patterns)
}
