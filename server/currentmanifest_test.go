package server

import (
	"context"
	"errors"
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
