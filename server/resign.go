package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// ResignConfig enables online re-signing: the service holds one key of the
// pins role and, when an app's current manifest is within Before of its
// expiry, publishes the same hosts again as the next version, issued now
// and valid for Lifetime, signed with Signer. This only works when the
// pins role's threshold is 1 (otherwise the new manifest fails
// verification, which is logged and counted); the root keys stay offline
// whatever happens. Re-signed manifests skip the publish gate (their hosts
// are already live) and are recorded with source "resign".
type ResignConfig struct {
	Signer   *trust.Signer
	Before   time.Duration // default 7 days
	Lifetime time.Duration // default 30 days
	Interval time.Duration // how often to look; default 1 hour
	Rand     io.Reader     // signature randomness; nil: crypto/rand
	// Apps limits re-signing to these app ids; empty means every app whose
	// root lists Signer in its pins role.
	Apps []string
}

func (s *Server) resignLoop(ctx context.Context) error {
	rc := s.cfg.Resign
	interval := rc.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ResignDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("re-signing failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ResignDue re-signs every due manifest once and returns the results.
func (s *Server) ResignDue(ctx context.Context) ([]*PublishResult, error) {
	rc := s.cfg.Resign
	if rc == nil || rc.Signer == nil {
		return nil, errors.New("online re-signing is not configured")
	}
	before, lifetime := rc.Before, rc.Lifetime
	if before <= 0 {
		before = 7 * 24 * time.Hour
	}
	if lifetime <= 0 {
		lifetime = 30 * 24 * time.Hour
	}
	apps, err := s.store.Apps(ctx)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, a := range rc.Apps {
		allowed[a] = true
	}
	var out []*PublishResult
	var errs []error
	for _, a := range apps {
		if len(allowed) > 0 && !allowed[a.ID] || a.ManifestVersion == 0 {
			continue
		}
		res, err := s.resignApp(ctx, a.ID, before, lifetime)
		if err != nil {
			s.m.resigns.WithLabelValues("failed").Inc()
			errs = append(errs, fmt.Errorf("app %s: %w", a.ID, err))
			continue
		}
		if res != nil {
			s.m.resigns.WithLabelValues("published").Inc()
			s.log.Info("re-signed manifest", "app", a.ID, "version", res.Version)
			out = append(out, res)
		}
	}
	return out, errors.Join(errs...)
}

func (s *Server) resignApp(ctx context.Context, app string, before, lifetime time.Duration) (*PublishResult, error) {
	now := s.now()
	rootDoc, err := s.store.LatestRoot(ctx, app)
	if err != nil {
		return nil, err
	}
	root, _, err := trust.DecodeRootUnverified(rootDoc.Body)
	if err != nil {
		return nil, err
	}
	inRole := false
	for _, id := range root.PinsRole.KeyIDs {
		inRole = inRole || id == s.cfg.Resign.Signer.Key.ID
	}
	if !inRole {
		if len(s.cfg.Resign.Apps) == 0 {
			return nil, nil // not this key's app
		}
		return nil, fmt.Errorf("the re-signing key %s is not in root v%d's pins role", s.cfg.Resign.Signer.Key.ID[:16], root.Version)
	}
	cur, err := s.store.Manifest(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cur.Expires.Sub(now) > before && cur.RootVersion == rootDoc.Version {
		return nil, nil
	}
	m, err := trust.DecodeManifestUnverified(cur.Body)
	if err != nil {
		return nil, err
	}
	m.Version++
	m.RootVersion = root.Version
	m.IssuedAt = now.UTC().Truncate(time.Second)
	m.Expires = m.IssuedAt.Add(lifetime)
	env, err := m.Envelope()
	if err != nil {
		return nil, err
	}
	rnd := s.cfg.Resign.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := env.Sign(s.cfg.Resign.Signer, rnd); err != nil {
		return nil, err
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	return s.PublishManifest(ctx, app, b, PublishOptions{Source: "resign"})
}
