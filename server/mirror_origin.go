package server

import (
	"context"
	"errors"
	"slices"

	"pinset.dev/pinset/server/mirror"
	"pinset.dev/pinset/store"
)

// writeMirror writes app's published documents into the static origin
// (Config.Mirror) after a publication: every root, then the manifest, as
// mirror.Dir.Write orders them. A failure does not undo the publication
// (the store holds it and serves it): it is logged at ERROR and counted
// (pinset_mirror_writes_total{result="error"}); the next publication of
// the app, or a restart, writes the mirror again.
func (s *Server) writeMirror(ctx context.Context, app string) {
	if s.cfg.Mirror == nil {
		return
	}
	err := s.mirrorApp(ctx, app)
	if err != nil {
		s.log.Error("mirror not written: it serves the app's previous documents", "app", app, "dir", s.cfg.Mirror.Root, "err", err)
		s.m.mirror.WithLabelValues("error").Inc()
		return
	}
	s.m.mirror.WithLabelValues("written").Inc()
}

func (s *Server) mirrorApp(ctx context.Context, app string) error {
	latest, err := s.store.LatestRoot(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Every root from the first the app published (any version) on.
	var roots []mirror.Root
	for v := latest.Version; v >= 1; v-- {
		d, err := s.store.Root(ctx, app, v)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return err
		}
		roots = append(roots, mirror.Root{Version: uint64(v), Body: d.Body})
	}
	slices.Reverse(roots)
	var manifest []byte
	m, err := s.store.Manifest(ctx, app)
	switch {
	case err == nil:
		manifest = m.Body
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.cfg.Mirror.Write(app, roots, manifest)
}

// syncMirror writes every app into the mirror (when Serve starts: the
// mirror may be new, or behind publications made by another process).
func (s *Server) syncMirror(ctx context.Context) {
	if s.cfg.Mirror == nil {
		return
	}
	apps, err := s.store.Apps(ctx)
	if err != nil {
		s.log.Error("mirror not written: cannot list the apps", "dir", s.cfg.Mirror.Root, "err", err)
		s.m.mirror.WithLabelValues("error").Inc()
		return
	}
	for _, a := range apps {
		s.writeMirror(ctx, a.ID)
	}
}
