package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every error answer is JSON with a code, including the ones the mux
// writes itself: no route (404) and a route without that method (405,
// with its Allow header kept).
func TestMuxErrorsAreJSON(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
		apiCode      string
		allow        string
	}{
		{"GET", "/nope", http.StatusNotFound, "not_found", ""},
		{"GET", "/v1/apps/shop/other.json", http.StatusNotFound, "not_found", ""},
		{"DELETE", "/v1/apps/shop/pins.json", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/reports", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"POST", "/v1/admin/apps", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	} {
		r := e.do(tc.method, tc.path, nil)
		if r.code != tc.code || !strings.HasPrefix(r.h.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %q %q", tc.method, tc.path, r.code, r.h.Get("Content-Type"), r.body)
			continue
		}
		if a := r.apiErr(t); a.Code != tc.apiCode || a.Error == "" {
			t.Errorf("%s %s: %+v", tc.method, tc.path, a)
		}
		if got := r.h.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

// An app that does not exist is 404 not_found everywhere it is named: a
// report sent to it and the admin listings of its reports and manifests
// answer alike. An app that exists but has none lists an empty page.
func TestUnknownAppAnswersAlike(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	report, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		admin        bool
	}{
		{"POST", "/v1/apps/nope/reports", false},
		{"GET", "/v1/admin/apps/nope/reports", true},
		{"GET", "/v1/admin/apps/nope/manifests", true},
		{"GET", "/v1/apps/nope/pins.json", false},
	} {
		var r resp
		if tc.admin {
			r = e.admin(tc.method, tc.path, nil)
		} else {
			r = e.do(tc.method, tc.path, report)
		}
		if a := r.apiErr(t); r.code != http.StatusNotFound || a.Code != "not_found" || !strings.Contains(a.Error, "nope") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.code, r.body)
		}
	}
	for _, p := range []string{"/v1/admin/apps/shop/reports", "/v1/admin/apps/shop/manifests"} {
		if r := e.admin("GET", p, nil); r.code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, r.code, r.body)
		}
	}
}
