package monitor_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/store"
)

// TestACMEAlerts: the ACME schedule's status goes through the monitor's
// rules. A host whose certificate is past two thirds of its lifetime and
// whose CA does not answer (nothing listens at the directory's address)
// is PinsetRenewalOverdue from the first failed attempt, and
// PinsetACMEFailing once it failed renew.DefaultFailingAfter times in a
// row.
func TestACMEAlerts(t *testing.T) {
	const name = "api.example.test"
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	ringDir := t.TempDir()
	ring, err := keyring.Create(ringDir, name)
	if err != nil {
		t.Fatal(err)
	}
	key := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand("acme alerts")))
	p, err := ring.Add(key)
	if err != nil {
		t.Fatal(err)
	}
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{name}, Key: key, NotBefore: now.Add(-80 * 24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour)}))
	if err := ring.SaveChain(p, leaf.ChainPEM()); err != nil {
		t.Fatal(err)
	}
	acct := pki.Must(keyring.Generate(keyring.P256, nil))
	sched, err := renew.New(renew.Config{Targets: []renew.Target{{Host: name, KeyRing: ringDir, HTTP01Listen: "127.0.0.1:0",
		Deploy: deploy.Target{CertFile: filepath.Join(t.TempDir(), "chain.pem"), KeyFile: filepath.Join(t.TempDir(), "key.pem"), Reload: []string{"true"}},
		ACME:   certs.Options{DirectoryURL: "https://127.0.0.1:1/dir", AccountKey: acct, AgreeTerms: true, Timeout: 5 * time.Second}}},
		Now: clk, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mon := monitor.New(st, monitor.Config{ACME: sched.Status, Now: clk})
	alerts := func() []string {
		t.Helper()
		r, err := mon.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range r.Alerts {
			names = append(names, a.Labels["alertname"]+" "+a.Labels["host"]+" "+a.Labels["key"])
		}
		slices.Sort(names)
		return names
	}
	if got := alerts(); len(got) != 0 {
		t.Fatalf("alerts before the schedule ran: %v", got)
	}
	overdue := monitor.AlertRenewalOverdue + " " + name + " live"
	failing := monitor.AlertACMEFailing + " " + name + " "
	for i := 1; i <= renew.DefaultFailingAfter; i++ {
		if err := sched.Tick(context.Background()); err == nil {
			t.Fatal("renewal with no CA succeeded")
		}
		want := []string{overdue}
		if i == renew.DefaultFailingAfter {
			want = []string{failing, overdue}
		}
		if got := alerts(); !slices.Equal(got, want) {
			t.Fatalf("after %d failures: alerts %q, want %q", i, got, want)
		}
		s := sched.Status(now)
		now = s[0].NextAttempt
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(mon.Collector())
	mfs, _ := reg.Gather()
	firing := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "pinset_monitor_alerts_firing" {
			for _, m := range mf.GetMetric() {
				firing[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if firing[monitor.AlertACMEFailing] != 1 || firing[monitor.AlertRenewalOverdue] != 1 {
		t.Fatalf("pinset_monitor_alerts_firing %v", firing)
	}
}
