package check_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

const host = "api.example.test"

const day = 24 * time.Hour

// fixture: three addresses of one host; the third serves a rotated key.
func rotatedFleet(t *testing.T) (*checktest.World, *checktest.Fleet) {
	w := checktest.NewWorld(t, host)
	live := w.Leaf("live", 90*day)
	rotated := w.Leaf("rotated", 90*day)
	return w, checktest.NewFleet(t, host, live, live, rotated)
}

func opts(w *checktest.World, f *checktest.Fleet, now time.Time) check.Options {
	return check.Options{RootCAs: w.Pool(), Timeout: 5 * time.Second, Resolve: f.Resolve(), DefaultPort: f.Port, Now: func() time.Time { return now }}
}

func TestRotatedAddressIsNamed(t *testing.T) {
	w, f := rotatedFleet(t)
	pols := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	rep, err := check.Run(context.Background(), pols, nil, opts(w, f, checktest.Epoch.Add(day)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || len(rep.Hosts[0].Addresses) != 3 {
		t.Fatalf("want 1 host with 3 addresses, got %+v", rep.Hosts)
	}
	for i, a := range rep.Hosts[0].Addresses {
		want := check.Accepted
		if i == 2 {
			want = check.RefusedPin
		}
		if a.Address != f.Address(i) || a.Verdict != want {
			t.Errorf("address %d: %s %s (%s), want %s %s", i, a.Address, a.Verdict, a.Reason, f.Address(i), want)
		}
	}
	bad := rep.Hosts[0].Addresses[2]
	if bad.MissingPin == nil || *bad.MissingPin != w.Pin("rotated") {
		t.Fatalf("missing pin %v, want the rotated key %v", bad.MissingPin, w.Pin("rotated"))
	}
	if !rep.Refused() || rep.Summary.RefusedPin != 1 || rep.Summary.Accepted != 2 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	// Exactly one error finding, naming exactly that address.
	var errs []check.Finding
	for _, fd := range rep.Findings {
		if fd.Severity == check.SevError {
			errs = append(errs, fd)
		}
	}
	if len(errs) != 1 || errs[0].Address != f.Address(2) || errs[0].Code != check.CodeRefusedPin || *errs[0].Pin != w.Pin("rotated") {
		t.Fatalf("error findings %+v", errs)
	}
	// The backup pin is held back (1) and matches nothing served: info.
	if rep.Hosts[0].BackupPins != 1 {
		t.Fatalf("backup pins %d, want 1", rep.Hosts[0].BackupPins)
	}
	if !hasFinding(rep, check.CodeUnmatchedPin, "", w.Pin("backup")) {
		t.Fatal("the held-back pin is not listed as matching nothing served")
	}
	if hasFinding(rep, check.CodeNoKeyHeldBack, "", pin.Pin{}) || hasFinding(rep, check.CodeNoBackupPin, "", pin.Pin{}) {
		t.Fatal("false backup warnings")
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), f.Address(2)+"  refused-pin") || strings.Count(text.String(), "refused-pin") != 1 {
		t.Fatalf("table does not name the refused address once:\n%s", text.String())
	}
	var back check.Report
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Hosts[0].Addresses[2].MissingPin == nil || *back.Hosts[0].Addresses[2].MissingPin != w.Pin("rotated") {
		t.Fatalf("JSON round trip: %v\n%s", err, js.String())
	}
}

func TestGateRefusesManifestOmittingRotatedKey(t *testing.T) {
	w, f := rotatedFleet(t)
	o := opts(w, f, checktest.Epoch.Add(day))
	omits := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	_, err := check.Gate(context.Background(), omits, o)
	var ge *check.GateError
	if !errors.As(err, &ge) || !errors.Is(err, check.ErrWouldRefuse) {
		t.Fatalf("gate: %v, want a GateError", err)
	}
	if len(ge.Refusals) != 1 || ge.Refusals[0].Address != f.Address(2) || ge.Refusals[0].MissingPin != w.Pin("rotated") || ge.Refusals[0].Host != host {
		t.Fatalf("refusals %+v", ge.Refusals)
	}
	msg := err.Error()
	for _, want := range []string{host, f.Address(2), w.Pin("rotated").Format(pin.OkHttp)} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, f.Address(0)) || strings.Contains(msg, f.Address(1)) {
		t.Errorf("refusal names a covered address: %q", msg)
	}

	covers := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("rotated"), w.Pin("backup")}}}
	if rep, err := check.Gate(context.Background(), covers, o); err != nil || rep.Summary.Accepted != 3 {
		t.Fatalf("gate refused a covering manifest: %v", err)
	}
	// Pinning the issuing CA covers every node too.
	ca := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Inter.Pin(), w.Pin("backup")}}}
	if _, err := check.Gate(context.Background(), ca, o); err != nil {
		t.Fatalf("gate refused a CA pin: %v", err)
	}
}

func TestReportOnlyIsNotRefused(t *testing.T) {
	w, f := rotatedFleet(t)
	pols := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}, ReportOnly: true}}
	rep, err := check.Gate(context.Background(), pols, opts(w, f, checktest.Epoch.Add(day)))
	if err != nil {
		t.Fatalf("report-only policy refused: %v", err)
	}
	if a := rep.Hosts[0].Addresses[2]; a.Verdict != check.AcceptedReportOnly || rep.Refused() {
		t.Fatalf("verdict %s", a.Verdict)
	}
	if !hasFinding(rep, check.CodeReportOnlyMiss, f.Address(2), w.Pin("rotated")) {
		t.Fatal("report-only mismatch not flagged")
	}
}

func TestExpiryBackupAndHeldBack(t *testing.T) {
	w := checktest.NewWorld(t, host)
	f := checktest.NewFleet(t, host, w.Leaf("live", 30*day))
	// One pin only, and it is the served key: both warnings.
	pols := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live")}, ReportOnly: true}}
	early, err := check.Run(context.Background(), pols, nil, opts(w, f, checktest.Epoch.Add(day)))
	if err != nil {
		t.Fatal(err)
	}
	if hasFinding(early, check.CodeExpiring, "", pin.Pin{}) {
		t.Fatal("29 days before expiry flagged with a 21-day window")
	}
	late, err := check.Run(context.Background(), pols, nil, opts(w, f, checktest.Epoch.Add(20*day)))
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(late, check.CodeExpiring, f.Address(0), w.Pin("live")) {
		t.Fatalf("10 days before expiry not flagged: %+v", late.Findings)
	}
	for _, r := range []*check.Report{early, late} {
		if !hasFinding(r, check.CodeNoBackupPin, "", pin.Pin{}) || !hasFinding(r, check.CodeNoKeyHeldBack, "", pin.Pin{}) {
			t.Fatalf("single served pin not flagged: %+v", r.Findings)
		}
		if r.Hosts[0].BackupPins != 0 {
			t.Fatalf("backup pins %d, want 0", r.Hosts[0].BackupPins)
		}
	}
	// After expiry the chain no longer verifies at the injected time.
	expired, err := check.Run(context.Background(), pols, nil, opts(w, f, checktest.Epoch.Add(31*day)))
	if err != nil {
		t.Fatal(err)
	}
	if a := expired.Hosts[0].Addresses[0]; a.Verdict != check.RefusedUntrusted || !strings.Contains(a.VerifyError, "expired") {
		t.Fatalf("expired: %s %q", a.Verdict, a.VerifyError)
	}
}

func TestUntrustedUnreachableAndWildcards(t *testing.T) {
	w := checktest.NewWorld(t, host)
	f := checktest.NewFleet(t, host, w.Leaf("live", 90*day), w.SelfSigned("intercept"))
	o := opts(w, f, checktest.Epoch.Add(day))
	// A third address where nothing listens.
	o.Resolve[f.Target()] = append(o.Resolve[f.Target()], "127.0.0.250")
	pols := []policy.Policy{
		{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}},
		{Pattern: "*.cdn.example.test", Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}},
	}
	rep, err := check.Run(context.Background(), pols, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	addrs := rep.Hosts[0].Addresses
	if len(addrs) != 3 || addrs[0].Verdict != check.Accepted || addrs[1].Verdict != check.RefusedUntrusted || addrs[2].Verdict != check.Unreachable {
		t.Fatalf("verdicts %+v", addrs)
	}
	if len(addrs[1].Chain) != 1 || addrs[1].Chain[0].Pin != w.Pin("intercept") {
		t.Fatal("the untrusted chain is not recorded")
	}
	if len(rep.Unprobed) != 1 || rep.Unprobed[0].Pattern != "*.cdn.example.test" {
		t.Fatalf("unprobed %+v", rep.Unprobed)
	}
	// The gate does not blame the manifest for nodes that fail on their own.
	if _, err := check.Gate(context.Background(), pols, o); err != nil {
		t.Fatalf("gate blamed the manifest: %v", err)
	}
	if !rep.Refused() || !rep.Incomplete() {
		t.Fatalf("summary %+v", rep.Summary)
	}
}

func TestExplicitTargetsAndUnresolved(t *testing.T) {
	w := checktest.NewWorld(t, "shop.example.test")
	f := checktest.NewFleet(t, "shop.example.test", w.Leaf("live", 90*day))
	o := opts(w, f, checktest.Epoch.Add(day))
	o.Resolve["nowhere.example.test:1"] = []string{}
	pols := []policy.Policy{{Pattern: "**.example.test", Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	tg, err := check.ParseTarget(f.Target(), 443)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := check.Run(context.Background(), pols, []check.Target{tg, {Host: "nowhere.example.test", Port: 1}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hosts[0].Pattern != "**.example.test" || rep.Hosts[0].Addresses[0].Verdict != check.Accepted {
		t.Fatalf("wildcard host: %+v", rep.Hosts[0])
	}
	if rep.Hosts[1].Error == "" || rep.Summary.Unresolved != 1 {
		t.Fatalf("unresolved host: %+v", rep.Hosts[1])
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]check.Target{
		"API.Example.com":      {"api.example.com", 443},
		"api.example.com:8443": {"api.example.com", 8443},
		"[::1]:8443":           {"::1", 8443},
		"::1":                  {"::1", 443},
	} {
		got, err := check.ParseTarget(in, 443)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := check.ParseTarget("api.example.com:99999", 443); err == nil {
		t.Error("port 99999 accepted")
	}
}

func hasFinding(r *check.Report, code check.Code, addr string, p pin.Pin) bool {
	for _, f := range r.Findings {
		if f.Code != code || (addr != "" && f.Address != addr) {
			continue
		}
		if !p.IsZero() && (f.Pin == nil || *f.Pin != p) {
			continue
		}
		return true
	}
	return false
}

func TestIPv4AndIPv6Addresses(t *testing.T) {
	w := checktest.NewWorld(t, host)
	f, err := checktest.Start(host, []string{"127.0.0.2", "::1"}, []tls.Certificate{w.Leaf("live", 90*day), w.Leaf("rotated", 90*day)})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(f.Close)
	pols := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	rep, err := check.Run(context.Background(), pols, nil, opts(w, f, checktest.Epoch.Add(day)))
	if err != nil {
		t.Fatal(err)
	}
	as := rep.Hosts[0].Addresses
	if len(as) != 2 || as[0].Address != f.Address(0) || as[0].Verdict != check.Accepted ||
		as[1].Address != "[::1]:"+strconv.Itoa(f.Port) || as[1].Verdict != check.RefusedPin {
		t.Fatalf("addresses %+v", as)
	}
}
