package mobile

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/export"
	"pinset.dev/pinset/policy"
)

// OkHttpPinsJSON is export's okhttp data for the policies in force, with
// the manifest version; after a refresh the "updated" event carries the new
// version and the pins follow it.
func TestOkHttpPinsJSONFollowsManifest(t *testing.T) {
	f := newFixture(t)
	h := &events{}
	c, err := NewClient(f.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(version int) export.OkHttpPins {
		t.Helper()
		js, err := c.OkHttpPinsJSON(version)
		if err != nil {
			t.Fatal(err)
		}
		var doc export.OkHttpPins
		if err := json.Unmarshal([]byte(js), &doc); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		return doc
	}
	doc := get(3)
	want, err := export.OkHttp(export.Input{Policies: []policy.Policy{ct.Pol("127.0.0.1", f.live.Pin(), f.backup.Pin())}, OkHttpVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	if doc.ManifestVersion != 1 || doc.OkHttpVersion != 3 || !reflect.DeepEqual(doc.Pins, want.Pins) {
		t.Fatalf("v1 pins %+v, want %+v", doc, want.Pins)
	}
	if doc.Pins[0].Pins[0] != "sha256/"+f.live.Pin().String() {
		t.Fatalf("pin spelling %q", doc.Pins[0].Pins[0])
	}
	if _, err := c.OkHttpPinsJSON(2); err == nil || !strings.Contains(err.Error(), "sha1/") {
		t.Errorf("OkHttp 2: %v", err)
	}

	f.repo.Publish(2, time.Now().UTC().Add(-time.Minute), 30*24*time.Hour,
		ct.Pol("127.0.0.1", f.backup.Pin(), f.live.Pin()), ct.Pol("**.example.com", f.live.Pin(), f.backup.Pin()))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	last := h.ev[len(h.ev)-1]
	h.mu.Unlock()
	if last.Kind != "updated" || last.ManifestVersion != 2 {
		t.Fatalf("last event %+v, want updated to v2", last)
	}
	doc = get(3)
	var patterns []string
	for _, e := range doc.Pins {
		patterns = append(patterns, e.Pattern)
	}
	if doc.ManifestVersion != 2 || doc.Pins[0].Pins[0] != "sha256/"+f.backup.Pin().String() ||
		!slices.Equal(patterns, []string{"127.0.0.1", "example.com", "*.example.com"}) {
		t.Fatalf("v2 pins %+v", doc.Pins)
	}
	if len(doc.Warnings) == 0 || doc.Warnings[0].Code != export.WarnSubdomainDepth {
		t.Errorf("OkHttp 3 warnings %+v, want subdomain-depth", doc.Warnings)
	}
	if doc4 := get(4); len(doc4.Pins) != 2 || doc4.Pins[1].Pattern != "**.example.com" || doc4.MinimumVersion != "4.3.0" {
		t.Errorf("OkHttp 4 pins %+v, minimum %s", doc4.Pins, doc4.MinimumVersion)
	}

	var tk struct {
		ManifestVersion int64 `json:"manifest_version"`
		Configuration   struct {
			Swizzle bool `json:"TSKSwizzleNetworkDelegates"`
			Domains map[string]struct {
				Hashes     []string `json:"TSKPublicKeyHashes"`
				Enforce    bool     `json:"TSKEnforcePinning"`
				Subdomains bool     `json:"TSKIncludeSubdomains"`
			} `json:"TSKPinnedDomains"`
		} `json:"configuration"`
		Warnings []export.WarningJSON `json:"warnings"`
	}
	js, err := c.TrustKitConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), &tk); err != nil {
		t.Fatal(err)
	}
	d := tk.Configuration.Domains["example.com"]
	if tk.ManifestVersion != 2 || tk.Configuration.Swizzle || !d.Enforce || !d.Subdomains || len(d.Hashes) != 2 || tk.Warnings == nil {
		t.Fatalf("TrustKit %s", js)
	}
}
