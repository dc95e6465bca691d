package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/store"
)

// CurrentManifest hands out the manifest the document cache decoded for
// serving (one decode for the service and its monitor): the same value on
// every call until a publication changes it.
func TestCurrentManifest(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.srv.CurrentManifest(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before publishing: %v, want ErrNotFound", err)
	}
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	m1, err := e.srv.CurrentManifest(ctx, "shop")
	if err != nil || m1.Version != 1 || len(m1.Hosts) == 0 {
		t.Fatalf("CurrentManifest = %+v, %v", m1, err)
	}
	if m2, err := e.srv.CurrentManifest(ctx, "shop"); err != nil || m2 != m1 {
		t.Fatalf("decoded again: %p then %p (%v)", m1, m2, err)
	}
	e.mustPublish("pins", e.repo.PublishManifest(nil))
	if m3, err := e.srv.CurrentManifest(ctx, "shop"); err != nil || m3.Version != 2 {
		t.Fatalf("after a publication: %+v, %v", m3, err)
	}
}

// After a root rotation the current manifest is bound to the older root;
// trust still decides the next manifest's version (the current one is its
// floor), and the service reports a lower or equal one as a rollback.
func TestManifestVersionAfterRootRotation(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	e.mustPublish("pins", e.repo.PublishManifest(nil)) // v2 under root v1
	e.mustPublish("root", e.repo.RotateRootKeys(3, 2))
	for _, v := range []uint64{1, 2} {
		m := e.repo.ManifestDoc()
		m.Version = v
		r := e.publish("pins", e.repo.PublishManifestSignedBy(m, e.repo.PinsKeys[:2]...))
		if a := r.apiErr(t); r.code != 409 || a.Code != "rollback" || !strings.Contains(a.Error, "rollback") {
			t.Errorf("manifest v%d after v2: %d %+v", v, r.code, a)
		}
	}
	m := e.repo.ManifestDoc()
	m.Version = 3
	e.mustPublish("pins", e.repo.PublishManifestSignedBy(m, e.repo.PinsKeys[:2]...))
}
