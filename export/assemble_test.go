package export

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// Assemble puts an export's input together in one place: a manifest
// verified with its root, or only decoded (a warning says so), an expired
// one exported with a warning, pin specs, host selection, and the refusals
// of sources given twice.
func TestAssemble(t *testing.T) {
	repo := trusttest.New("shop", 1)
	m, err := trust.DecodeManifestUnverified(repo.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Assemble(Sources{Manifest: repo.Manifest(), ManifestName: "dir/pins.json", Root: repo.Root(), Now: repo.Now})
	if err != nil || len(a.Warnings) != 0 || a.ManifestVersion != int64(m.Version) || len(a.Input.Policies) != len(m.Hosts) ||
		!strings.HasPrefix(a.Input.Source, "pins.json (") || !strings.Contains(a.Input.Source, "signatures verified") {
		t.Fatalf("verified manifest: warnings %q, version %d of %d, %d of %d policies, source %q, %v", a.Warnings, a.ManifestVersion, m.Version, len(a.Input.Policies), len(m.Hosts), a.Input.Source, err)
	}
	a, err = Assemble(Sources{Manifest: repo.Manifest(), ManifestName: "pins.json", Now: m.Expires.Add(time.Hour)})
	if err != nil || len(a.Warnings) != 2 || !strings.Contains(a.Warnings[0], "not verified") || !strings.Contains(a.Warnings[1], "expired") {
		t.Fatalf("unverified, expired manifest: %q, %v", a.Warnings, err)
	}
	p := m.Hosts[0].Pins
	spec := "api.example.com=" + p[0].String() + "," + p[1].String()
	a, err = Assemble(Sources{Pins: []string{spec, "other.example.com=" + p[0].String() + "," + p[1].String()}, Hosts: []string{"api.example.com"}})
	if err != nil || len(a.Input.Policies) != 1 || a.Input.Policies[0].Pattern != "api.example.com" || a.ManifestVersion != 0 {
		t.Fatalf("pin specs: %+v, %v", a.Input.Policies, err)
	}
	for _, c := range []struct {
		src  Sources
		want error
	}{
		{Sources{}, ErrNothingToDo},
		{Sources{ManifestName: "pins.json", Pins: []string{spec}}, ErrSourcesTwice},
		{Sources{Pins: []string{spec}, NSCName: "nsc.xml", TrustAnchors: []string{"system"}}, ErrAnchorsTwice},
		{Sources{Pins: []string{"api.example.com=LIVE_PIN"}}, ErrBadPinSpec},
	} {
		if _, err := Assemble(c.src); !errors.Is(err, c.want) {
			t.Errorf("Assemble(%+v) = %v, want %v", c.src, err, c.want)
		}
	}
}
