package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/trust"
)

// TestDemo runs the whole demo and checks every step's observed outcome,
// not just its verdict.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	// A clock far from the wall clock: every part (certificates, TLS
	// verification, documents, the gate, the service) must use the
	// injected one.
	epoch := time.Date(2031, time.March, 14, 9, 26, 53, 0, time.UTC)
	res, err := Run(context.Background(), Config{Out: &out, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the demo took %v; it must take seconds", d)
	}
	if len(res.Steps) != 8 {
		t.Fatalf("%d steps, want 8", len(res.Steps))
	}
	for _, s := range res.Steps {
		if !s.OK {
			t.Errorf("step %d (%s): expected %q, observed %q", s.Number, s.Title, s.Expected, s.Observed)
		}
	}
	if !res.OK() {
		t.Fatalf("narration:\n%s", out.String())
	}
	want := map[int][]string{
		1: {"2 of 3: valid", "1 of 3: threshold not met"},
		2: {"serves key 1, verified"},
		3: {"root 201, manifest 201, served: true"},
		4: {"accepted (key 1)"},
		5: {"refused (pin mismatch), reported"},
		6: {"bad 409", "v2 201 (live check passed)", "client v2, accepted"},
		7: {"refresh failed", "v2 accepted", "fresh client: v2 (cache), accepted"},
		8: {"refused (rollback)", "v2 kept, accepted"},
	}
	for _, s := range res.Steps {
		for _, w := range want[s.Number] {
			if !strings.Contains(s.Observed, w) {
				t.Errorf("step %d observed %q, want it to say %q", s.Number, s.Observed, w)
			}
		}
	}
	// The narration carries the evidence behind the verdicts.
	text := out.String()
	for _, w := range []string{
		"threshold not met: 1 of 2",                                        // step 1: the verifier's own words
		"pin mismatch for api.demo.test, connection refused",               // step 5: enforce's failure
		"presented sha256/",                                                // step 5: the stored report
		"refused by the publish gate",                                      // step 6: the service's 409
		"1 address of 1 host: 1 accepted",                                  // step 6: the gate's check
		"connection refused",                                               // step 7: the service is down
		"rollback: manifest version 1 is lower than the trusted version 2", // step 8
		"client event: pin-failure",                                        // step 5: the SDK's events
		"client event: report-sent",                                        // step 5
		"client event: updated [network]: enforcing manifest v2",           // step 6
		"client event: updated [cache]: enforcing manifest v2",             // step 7
		"STEP", "EXPECTED", "OBSERVED", "Every step behaved as expected.",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("narration lacks %q", w)
		}
	}
	if res.Kept {
		t.Error("Kept without Config.Keep")
	}
	if _, err := os.Stat(res.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("work directory %s not removed: %v", res.Dir, err)
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Steps) != 8 || !back.OK() {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

// TestDemoFaults breaks one thing at a time and checks that the step that
// depends on it reports the failure: verdicts come from outcomes.
func TestDemoFaults(t *testing.T) {
	cases := []struct {
		fault    string
		step     int
		observed string
		narrated string
	}{
		// Without the inspection CA the interceptor is refused by plain
		// certificate verification, not by the pins: not what step 5 shows.
		{"inspection-ca-untrusted", 5, "failed otherwise", "certificate signed by unknown authority"},
		// A service that answers makes the refresh succeed. Step 8 then
		// finds the service's address taken and replays v1 to a client
		// started from the same cache: still a rollback.
		{"service-stays-up", 7, "refresh succeeded", "the service's address was taken"},
		// Replaying the current manifest is no rollback.
		{"replay-current", 8, "no error", "client.Refresh: ok"},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Run(context.Background(), Config{Out: &out, fault: c.fault})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() {
				t.Fatalf("the demo passed with fault %s", c.fault)
			}
			for _, s := range res.Steps {
				if s.Number == c.step {
					if s.OK || !strings.Contains(s.Observed, c.observed) {
						t.Errorf("step %d: ok=%v observed %q, want a failure saying %q", s.Number, s.OK, s.Observed, c.observed)
					}
				} else if !s.OK {
					t.Errorf("step %d failed too: %q", s.Number, s.Observed)
				}
			}
			if !strings.Contains(out.String(), c.narrated) {
				t.Errorf("narration lacks %q", c.narrated)
			}
			if !strings.Contains(out.String(), "1 step(s) did not behave as expected") {
				t.Errorf("narration does not end with the failure count:\n%s", out.String())
			}
		})
	}
}

// TestDemoKeep leaves the files in place with private keys at 0600, and the
// documents kept verify.
func TestDemoKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kept")
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{Out: &out, Keep: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || !res.Kept {
		t.Fatalf("ok=%v kept=%v\n%s", res.OK(), res.Kept, out.String())
	}
	for _, name := range []string{"root-a.key", "root-b.key", "root-c.key", "pins.key", "backend-1.key", "backend-2.key", "backend-3.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st, err := trust.NewState(read("root.json"), read("pins-v1.json"))
	if err != nil {
		t.Fatalf("kept root and manifest v1: %v", err)
	}
	if _, err := st.UpdateManifest(read("pins-v2.json"), time.Now()); err != nil {
		t.Errorf("kept manifest v2: %v", err)
	}
	for _, name := range []string{"pins-v2-refused.json", "demo-ca.pem", "inspection-ca.pem", "backend-2.pem", "data/pinset.db"} {
		read(name)
	}
	if _, err := os.Stat(filepath.Join(dir, "client-cache")); err != nil {
		t.Errorf("client cache: %v", err)
	}
	for _, w := range []string{"pinset inspect " + filepath.Join(dir, "root.json"), "pinset verify --root "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("narration lacks %q", w)
		}
	}

	// A second run refuses to reuse the directory.
	if _, err := Run(context.Background(), Config{Keep: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second run in a used directory: %v", err)
	}
}
