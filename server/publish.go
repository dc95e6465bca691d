package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// PublishResult is the answer to a publication.
type PublishResult struct {
	App     string `json:"app"`
	Kind    string `json:"kind"` // "root" or "manifest"
	Version uint64 `json:"version"`
	Changed bool   `json:"changed"` // false: these exact bytes were already current
	SHA256  string `json:"sha256,omitempty"`
	// Gate is what the publish gate checked (manifests that changed
	// only); Gate.Skipped says when and why it did not run.
	Gate *check.GateSummary `json:"gate,omitempty"`
	// Forced: the publish gate refused and the upload was forced.
	Forced bool `json:"forced,omitempty"`
	// Unpinned lists the hosts a forced unpinning stopped pinning.
	Unpinned []check.Unpinned `json:"unpinned,omitempty"`
}

// PublishOptions tune PublishManifest.
type PublishOptions struct {
	Force bool // publish even if the publish gate refuses
	// ForceUnpin publishes even if the manifest stops pinning hosts the
	// current one pins (check.DropGate); audited and alerted.
	ForceUnpin bool
	Source     string // recorded with the manifest: "publish" (default) or "resign"
}

// PublishRoot verifies root envelope b for app and makes it the latest
// root. The first root of an app must be signed by a threshold of its own
// root keys and unexpired; every later one must be the next version,
// signed by a threshold of the current root's root keys and of its own
// (trust.State.UpdateRoot). Re-uploading the current root changes nothing.
func (s *Server) PublishRoot(ctx context.Context, app string, b []byte) (*PublishResult, error) {
	now := s.now()
	cur, err := s.store.LatestRoot(ctx, app)
	var st *trust.State
	var prev int64
	switch {
	case errors.Is(err, store.ErrNotFound):
		st, err = trust.VerifyRootChain([][]byte{b}, now)
	case err != nil:
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	default:
		prev = cur.Version
		var trusted *trust.State
		trusted, err = trust.NewState(cur.Body, nil)
		if err != nil {
			return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: fmt.Errorf("stored root v%d: %w", cur.Version, err)}
		}
		// Say "rollback" for an older root even when its signatures no
		// longer verify under the current keys (they would be refused
		// either way; this names the real mistake).
		if err := trusted.OlderRoot(b); err != nil {
			return nil, classify("root", err)
		}
		st, err = trusted.UpdateRoot(b, now)
		if err == nil && st == trusted {
			return &PublishResult{App: app, Kind: "root", Version: uint64(cur.Version), SHA256: cur.SHA256}, nil
		}
	}
	if err != nil {
		return nil, classify("root", err)
	}
	root := st.Root()
	if root.AppID != app {
		return nil, classify("root", fmt.Errorf("root for app %q uploaded to app %q: %w", root.AppID, app, trust.ErrWrongApp))
	}
	if err := s.checkRootLog(app, root); err != nil {
		return nil, err
	}
	d := store.Document{App: app, Version: int64(root.Version), Body: b, Expires: root.Expires, CreatedAt: now}
	if err := s.store.PublishRoot(ctx, d, prev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, classify("root", err)
		}
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	}
	s.docs.invalidate(app)
	s.logPublished(ctx, app, 0)
	s.m.publishes.WithLabelValues("root", "published").Inc()
	s.writeMirror(ctx, app)
	return &PublishResult{App: app, Kind: "root", Version: root.Version, Changed: true, SHA256: digestHex(b)}, nil
}

// PublishManifest verifies manifest envelope b for app against the app's
// latest root and current manifest, exactly as a client holding them
// would (trust.State.UpdateManifest: pins-role threshold, app id, root
// binding, version above the current one, issued-at and expiry), asks the
// publish gate unless forced, and makes it current with a compare-and-swap
// on the current version. Re-uploading the current manifest changes
// nothing.
func (s *Server) PublishManifest(ctx context.Context, app string, b []byte, opts PublishOptions) (*PublishResult, error) {
	now := s.now()
	rootDoc, err := s.store.LatestRoot(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &PublishError{Status: http.StatusConflict, Code: "no_root", Err: fmt.Errorf("manifest refused: app %q has no root yet: publish its root first", app)}
	}
	if err != nil {
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	}
	st, err := trust.NewState(rootDoc.Body, nil)
	if err != nil {
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: fmt.Errorf("stored root v%d: %w", rootDoc.Version, err)}
	}
	// Verified as a client would, except for the log proof: publishing
	// is what appends the manifest to the log.
	st = st.PreLog()
	var prev int64
	cur, err := s.store.Manifest(ctx, app)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	default:
		prev = cur.Version
		if bytes.Equal(cur.Body, b) {
			return &PublishResult{App: app, Kind: "manifest", Version: uint64(cur.Version), SHA256: cur.SHA256}, nil
		}
		restored := false
		if cur.RootVersion == rootDoc.Version {
			// The current manifest, as a client holds it: later uploads
			// are checked against its version and contents.
			if r, rerr := st.Restore(nil, cur.Body); rerr == nil {
				st, restored = r, true
			}
		}
		if !restored {
			// The current manifest is bound to an older root: trust
			// still decides the version, with the next one as a floor.
			st = st.WithFloors(trust.Floors{ManifestVersion: uint64(prev) + 1})
		}
	}
	next, err := st.UpdateManifest(b, now)
	var ve *trust.VersionError
	if errors.As(err, &ve) && errors.Is(err, trust.ErrBelowFloor) {
		// The floor is the service's current version, not one shipped
		// with an app: say rollback against it.
		err = &trust.VersionError{Document: "manifest", Got: ve.Got, Trusted: uint64(prev), Err: trust.ErrRollback}
	}
	if err != nil {
		return nil, classify("manifest", err)
	}
	if next == st && st.Manifest() != nil {
		// The same signed payload as the current manifest (perhaps with
		// other signatures): nothing to publish.
		return &PublishResult{App: app, Kind: "manifest", Version: st.Manifest().Version, SHA256: cur.SHA256}, nil
	}
	m := next.Manifest()
	if m.AppID != app {
		return nil, classify("manifest", fmt.Errorf("manifest for app %q uploaded to app %q: %w", m.AppID, app, trust.ErrWrongApp))
	}
	// Unpinning first: it needs no network, and a refused unpinning
	// should not cost a probe of every host.
	var unpinned []check.Unpinned
	if prev > 0 {
		if unpinned, err = s.dropGate(ctx, app, cur, m, now, opts.ForceUnpin); err != nil {
			return nil, err
		}
	}
	var gate *check.GateSummary
	forced := false
	switch {
	case opts.Source == "resign":
		gate = &check.GateSummary{Skipped: "re-signed by the service: the hosts are those of the current manifest"}
	case s.cfg.PublishGate == nil:
		gate = &check.GateSummary{Skipped: "the publish gate is off: the live hosts were not checked"}
	default:
		var gerr error
		gate, gerr = s.cfg.PublishGate(ctx, m)
		if gerr != nil {
			if !opts.Force {
				code := "publish_gate"
				if errors.Is(gerr, check.ErrUnchecked) {
					code = "publish_gate_strict"
				}
				return nil, &PublishError{Status: http.StatusConflict, Code: code, Force: true, Gate: gate,
					Err: fmt.Errorf("manifest v%d refused by the publish gate: %w (publish with force=1 to override)", m.Version, gerr)}
			}
			forced = true
			s.log.Warn("publish gate overridden", "app", app, "version", m.Version, "reason", gerr.Error(), "token", tokenName(ctx))
		}
		if gate != nil {
			s.log.Info("publish gate", "app", app, "version", m.Version, "summary", gate.String())
		}
	}
	d := store.Document{App: app, Version: int64(m.Version), RootVersion: int64(m.RootVersion), Body: b,
		IssuedAt: m.IssuedAt, Expires: m.Expires, Source: opts.Source, CreatedAt: now}
	if err := s.store.PublishManifest(ctx, d, prev); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return nil, classify("manifest", err)
		}
		return nil, &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	}
	s.docs.invalidate(app)
	s.logPublished(ctx, app, int64(m.Version))
	s.m.publishes.WithLabelValues("manifest", "published").Inc()
	s.writeMirror(ctx, app)
	if len(unpinned) > 0 {
		s.auditUnpin(ctx, app, m.Version, unpinned)
	}
	return &PublishResult{App: app, Kind: "manifest", Version: m.Version, Changed: true, SHA256: digestHex(b), Gate: gate, Forced: forced, Unpinned: unpinned}, nil
}
