package serveconfig

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/internal/nginxtest"
	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// TestServeRunsACMESchedule: a serve configuration with a rotation target
// and rotation.acme_schedule makes the running service (server.Serve, no
// call from the test) replace nginx's expired certificate for key 1 with
// one from a real Pebble (deploy.Deploy verified it), so that nginx
// serves key 1 on both addresses, and keep the next key's certificate in
// the ring; /metrics counts both and the monitor's configuration reads the
// schedule.
func TestServeRunsACMESchedule(t *testing.T) {
	const host = "api.pinset.test"
	peb := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	dir := t.TempDir()
	ringDir := filepath.Join(dir, "ring")
	ring, err := keyring.Create(ringDir, host)
	if err != nil {
		t.Fatal(err)
	}
	var pins []pin.Pin
	var keys []crypto.Signer
	for _, seed := range []string{"serve key 1", "serve key 2"} {
		k := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand(seed)))
		p, err := ring.Add(k)
		if err != nil {
			t.Fatal(err)
		}
		pins, keys = append(pins, p), append(keys, k)
	}
	// nginx starts with an expired certificate for key 1.
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	expired := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{host}, Key: keys[0],
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile, keyFile := write("chain.pem", expired.ChainPEM()), write("key.pem", expired.KeyPEM())
	n := nginxtest.Start(t, host, certFile, keyFile)
	roots := write("roots.pem", append(peb.IssuerRootPEM(t), ca.CertPEM()...))
	var reload []string
	for _, a := range n.Reload() {
		reload = append(reload, fmt.Sprintf("%q", a))
	}
	f, err := load(t, fmt.Sprintf(`
rotation:
  cafile: %[1]s
  resolve: ["%[2]s:%[3]d:127.0.0.1", "%[2]s:%[3]d:127.0.0.2"]
  port: %[3]d
  targets:
    - host: %[2]s
      cert_file: %[4]s
      key_file: %[5]s
      reload: [%[6]s]
      key_ring: %[7]s
      settle: 5s
      acme:
        directory: %[8]s
        ca_file: %[9]s
        account_key: %[10]s
        agree_tos: true
        http01_listen: 127.0.0.1:0
  acme_schedule: {interval: 1s, failing_after: 2, retry_min: 1s}
`, roots, host, n.Port, certFile, keyFile, strings.Join(reload, ", "), ringDir, peb.DirectoryURL, peb.CAFile, filepath.Join(dir, "acme.key")))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Server.Rotation.Schedule == nil || svc.Monitor == nil || svc.Monitor.ACME == nil {
		t.Fatal("the schedule is not built, or the monitor does not read it")
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc.Server.Store = st
	srv, err := server.New(svc.Server)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		var live renew.Status
		for _, s := range svc.Monitor.ACME(time.Now()) {
			if s.Key == renew.Live {
				live = s
			}
		}
		_, err := ring.Chain(pins[1])
		if !live.LastSuccess.IsZero() && live.Failures == 0 && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not issue: live %+v, next key's chain: %v", live, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pool, err := input.LoadCAs("roots", roots)
	if err != nil {
		t.Fatal(err)
	}
	got := n.Served(t, check.Options{RootCAs: pool})
	if len(got) != 2 || got[0] != pins[0] || got[1] != pins[0] {
		t.Fatalf("nginx serves %v, want key 1 %s on both addresses", got, pins[0])
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`pinset_acme_renewals_total{host="api.pinset.test",key="live",result="ok"} 1`,
		`pinset_acme_renewals_total{host="api.pinset.test",key="next",result="ok"} 1`,
		`pinset_acme_failing{host="api.pinset.test"} 0`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestACMEScheduleWithoutMonitorWarns: with the monitor off the schedule
// still runs, and serve says at start that its alerts are not sent.
func TestACMEScheduleWithoutMonitorWarns(t *testing.T) {
	dir := t.TempDir()
	f, err := load(t, fmt.Sprintf(`
monitor: {enabled: false}
rotation:
  targets:
    - host: api.example.com
      cert_file: %[1]s/chain.pem
      key_file: %[1]s/key.pem
      reload: ["true"]
      key_ring: %[1]s/ring
      acme: {directory: "https://127.0.0.1:1/dir", account_key: %[1]s/acme.key, http01_listen: "127.0.0.1:0"}
  acme_schedule: {}
`, dir))
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	svc, err := f.Build(&log)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Server.Rotation.Schedule == nil || svc.Monitor != nil {
		t.Fatalf("schedule %v, monitor %v", svc.Server.Rotation.Schedule, svc.Monitor)
	}
	if !strings.Contains(log.String(), "PinsetACMEFailing and PinsetRenewalOverdue are not sent") {
		t.Fatalf("no warning at start: %s", log.String())
	}
	f.Rotation.ACMESchedule.Enabled = new(bool)
	if svc, err := f.Build(io.Discard); err != nil || svc.Server.Rotation.Schedule != nil {
		t.Fatalf("enabled: false still builds a schedule (%v)", err)
	}
}
