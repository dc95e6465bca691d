package serveconfig

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		"admin_client_ca: ca.pem\n":                       ErrAdminCANeedsTLS.Error(),
		"tls_cert: a.pem\n":                               "go together",
		"log_format: xml\n":                               "log format",
		"publish_gate: {port: 70000}\n":                   "publish_gate.port",
		"resign: {before: 7d}\n":                          "resign.key",
		"monitor: {expiry_warning: x}\n":                  "monitor.expiry_warning",
		"monitor: {port: 70000}\n":                        "monitor.port",
		"rotation: {deploy_timeout: 1m}\n":                "without rotation.deploy",
		"monitor:\n  alerts:\n    - {}\n":                 "exactly one",
		"reports: {event_retention: tomorrow}\n":          "reports.event_retention",
		"unpin_period: -1d\n":                             "unpin_period",
		"metrics_token_file: /nonexistent/token\n":        "metrics_token_file",
		"mirror: www\ntransparency_log: {key: log.pem}\n": "mirror or transparency_log",
	} {
		f, err := load(t, text)
		if err == nil {
			_, err = f.Build(io.Discard)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	f, _ = load(t, "mirror: /srv/pins\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Server.Mirror == nil || svc.Server.Mirror.Root != "/srv/pins" {
		t.Fatalf("mirror: %+v, %v", svc, err)
	}
	f, _ = load(t, "monitor: {enabled: false}\n")
	if svc, err := f.Build(io.Discard); err != nil || svc.Monitor != nil {
		t.Fatalf("disabled monitor: %+v, %v", svc, err)
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
