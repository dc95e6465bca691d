package server

import "testing"

// TestLatestDocMissing: an app with a root and no manifest yet serves its
// root, and answers 404 for its manifest saying what it lacks.
func TestLatestDocMissing(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	if r := e.do("GET", "/v1/apps/shop/root.json", nil); r.code != 200 {
		t.Errorf("root.json: %d", r.code)
	}
	r := e.do("GET", "/v1/apps/shop/pins.json", nil)
	if r.code != 404 || r.apiErr(t).Error != "app shop has no manifest" || r.apiErr(t).Code != "not_found" {
		t.Errorf("pins.json without a manifest: %d %q", r.code, r.body)
	}
}
