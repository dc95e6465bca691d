package serveconfig

import (
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

func load(t *testing.T, text string) (*File, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pinset.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

// The schema is strict (unknown keys named with their line, in every
// section, the monitor's included) and Build validates all of it before
// anything listens.
func TestLoadAndBuild(t *testing.T) {
	if _, err := load(t, "listen: 127.0.0.1:0\nmonitor:\n  intervall: 5m\n"); err == nil || !strings.Contains(err.Error(), `line 3: unknown key "intervall"`) {
		t.Fatalf("unknown key: %v", err)
	}
	f, err := load(t, "refresh_interval: 2s\nreports: {retention: 30d}\npublish_gate: {enabled: false}\n")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Server.RefreshInterval != 2*time.Second || svc.Limits.Retention != 30*24*time.Hour || svc.Server.PublishGate != nil ||
		svc.Cert != nil || svc.Monitor == nil || svc.Monitor.Check.ExpiryWarning != 21*24*time.Hour {
		t.Fatalf("built %+v", svc)
	}
	for text, want := range map[string]string{
		"admin_client_ca: ca.pem\n":                                            ErrAdminCANeedsTLS.Error(),
		"tls_cert: a.pem\n":                                                    "go together",
		"log_format: xml\n":                                                    "log format",
		"publish_gate: {port: 70000}\n":                                        "publish_gate.port",
		"resign: {before: 7d}\n":                                               "resign.key",
		"monitor: {expiry_warning: x}\n":                                       "monitor.expiry_warning",
		"monitor: {port: 70000}\n":                                             "monitor.port",
		"rotation: {deploy_timeout: 1m}\n":                                     "without rotation.deploy",
		"monitor:\n  alerts:\n    - {}\n":                                      "exactly one",
		"reports: {event_retention: tomorrow}\n":                               "reports.event_retention",
		"unpin_period: -1d\n":                                                  "unpin_period",
		"metrics_token_file: /nonexistent/token\n":                             "metrics_token_file",
		"rotation: {abort_on_report_spike: true}\nmonitor: {enabled: false}\n": "rotation.abort_on_report_spike needs the monitor",
		"rotation: {abort_on_report_spike: true}\nmonitor: {report_spike: {threshold: -1}}\n": "rotation.abort_on_report_spike needs the monitor",
		"rotation: {acme_schedule: {}}\n":                      "no rotation.targets",
		"rotation: {acme_schedule: {intervall: 1m}}\n":         `unknown key "intervall"`,
		"admin_tls_cert: a.pem\n":                              "go together",
		"admin_tls_cert: a.pem\nadmin_tls_key: a.key\n":        "without admin_listen",
		"admin_listen: 127.0.0.1:0\nadmin_client_ca: ca.pem\n": ErrAdminListenCANeedsTLS.Error(),
		"admin_listn: 127.0.0.1:0\n":                           `unknown key "admin_listn"`,
		"mirror: www\ntransparency_log: {key: log.pem}\n":      "mirror or transparency_log",
		"adoption: {max_installs_per_network: -1}\n":           "adoption.max_installs_per_network -1",
		"adoption: {max_installs_per_netwrk: 5}\n":             `unknown key "max_installs_per_netwrk"`,
	} {
		f, err := load(t, text)
		if err == nil {
			_, err = f.Build(io.Discard)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	f, _ = load(t, "rotation: {sample_interval: 1h}\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Server.Rotation.SampleInterval != time.Hour {
		t.Fatalf("rotation.sample_interval: %+v, %v", svc, err)
	}
	f, _ = load(t, "mirror: /srv/pins\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Server.Mirror == nil || svc.Server.Mirror.Root != "/srv/pins" {
		t.Fatalf("mirror: %+v, %v", svc, err)
	}
	f, _ = load(t, "adoption: {max_installs_per_network: 16}\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Server.Adoption.MaxInstallsPerNetwork != 16 {
		t.Fatalf("adoption.max_installs_per_network: %+v, %v", svc, err)
	}
	f, _ = load(t, "monitor: {enabled: false}\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Monitor != nil {
		t.Fatalf("disabled monitor: %+v, %v", svc, err)
	}
	f, _ = load(t, "rotation: {abort_on_report_spike: true}\nmonitor: {report_spike: {threshold: 5}}\n")
	if svc, err := f.Build(io.Discard); err != nil || !svc.Server.Rotation.AbortOnReportSpike || svc.Monitor.SpikeThreshold != 5 {
		t.Fatalf("abort on a report spike: %+v, %v", svc, err)
	}
	f, _ = load(t, "admin_client_ca: ca.pem\n")
	if _, err := f.Build(io.Discard); !errors.Is(err, ErrAdminCANeedsTLS) {
		t.Fatalf("admin CA without TLS: %v", err)
	}
}

// resign.key and rotation.key read their passphrase files alike: the
// first line (as --passphrase-file everywhere).
func TestKeyPassphraseFirstLine(t *testing.T) {
	dir := t.TempDir()
	s, err := trust.GenerateKey(trust.Ed25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := s.MarshalPrivateKeyPEM([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	key, pass := filepath.Join(dir, "pins.key"), filepath.Join(dir, "pass")
	os.WriteFile(key, pem, 0o600)
	os.WriteFile(pass, []byte("secret\nsecond line\n"), 0o600)
	for _, section := range []string{"resign", "rotation"} {
		f, err := load(t, section+": {key: "+key+", passphrase_file: "+pass+"}\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Build(io.Discard); err != nil {
			t.Errorf("%s: %v", section, err)
		}
	}
}

// With admin_listen, admin_client_ca needs the admin listener's TLS
// certificate, not the main listener's: a service whose public side is
// plain HTTP behind a proxy keeps mTLS on its admin side.
func TestAdminListenTLS(t *testing.T) {
	dir := t.TempDir()
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	for name, b := range map[string][]byte{"admin.crt": leaf.CertPEM(), "admin.key": leaf.KeyPEM(), "ca.pem": ca.CertPEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := load(t, "admin_listen: 127.0.0.1:0\nadmin_tls_cert: "+filepath.Join(dir, "admin.crt")+"\nadmin_tls_key: "+filepath.Join(dir, "admin.key")+
		"\nadmin_client_ca: "+filepath.Join(dir, "ca.pem")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Cert != nil || svc.Server.AdminCert == nil || svc.Server.AdminClientCAs == nil {
		t.Fatalf("built: public cert %v, admin cert %v, admin CAs %v", svc.Cert != nil, svc.Server.AdminCert != nil, svc.Server.AdminClientCAs != nil)
	}
}

// transparency_log.witnesses: each an https URL (plain http to loopback
// only) and a witness key; the server gets them with the timeout and an
// HTTP client; unknown keys are refused by name.
func TestTransparencyLogWitnesses(t *testing.T) {
	dir := t.TempDir()
	s, err := trust.GenerateKey(trust.Ed25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := s.MarshalPrivateKeyPEM(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "log.key")
	os.WriteFile(key, pem, 0o600)
	c, err := tlog.NewCosigner("witness.example.test/w1", ed25519.NewKeyFromSeed(make([]byte, 32)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	wkey := c.VerifierKey()
	head := "transparency_log:\n  key: " + key + "\n  name: pins.example.test\n"
	f, err := load(t, head+"  witness_timeout: 3s\n  witnesses:\n    - {url: 'https://witness.example.test/w1', key: '"+wkey+"'}\n")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lc := svc.Server.Log
	if len(lc.Witnesses) != 1 || lc.Witnesses[0].Key != wkey || lc.WitnessTimeout != 3*time.Second || lc.WitnessClient == nil {
		t.Fatalf("log config %+v", lc)
	}
	for text, want := range map[string]string{
		"  witnesses:\n    - {url: 'http://witness.example.test', key: '" + wkey + "'}\n":           "plain http to loopback only",
		"  witnesses:\n    - {url: 'https://u:p@witness.example.test', key: '" + wkey + "'}\n":      "without user",
		"  witnesses:\n    - {url: 'https://witness.example.test', key: 'witness+00000000+AA=='}\n": "witnesses[0].key",
		"  witnesses:\n    - {url: 'https://witness.example.test', kee: x}\n":                       `unknown key "kee"`,
		"  witness_timeout: 3s\n": "need transparency_log.witnesses",
		"  witness_timeout: soon\n  witnesses:\n    - {url: 'https://w.example.test', key: '" + wkey + "'}\n": "witness_timeout",
	} {
		f, err := load(t, head+text)
		if err == nil {
			_, err = f.Build(io.Discard)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	f, err = load(t, head+"  witnesses:\n    - {url: 'http://127.0.0.1:9/', key: '"+wkey+"'}\n")
	if err == nil {
		_, err = f.Build(io.Discard)
	}
	if err != nil {
		t.Fatalf("http to loopback: %v", err)
	}
}
