package serveconfig

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/device"
)

func TestDevicesSection(t *testing.T) {
	dir := t.TempDir()
	key, cert, err := device.NewCA("", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, _ := device.NewCA("", time.Now(), nil)
	for name, b := range map[string][]byte{"ca.key": key, "ca.pem": cert, "other.key": otherKey} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca, k, ok := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"), filepath.Join(dir, "other.key")
	f, err := load(t, "devices:\n  ca_cert: "+ca+"\n  ca_key: "+k+"\n  lifetime: 3d\n  token_lifetime: 2h\n")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a := svc.Server.Devices; a == nil || a.Lifetime != 72*time.Hour || a.TokenLifetime != 2*time.Hour || a.CA == nil {
		t.Fatalf("devices %+v", svc.Server.Devices)
	}
	if _, err := load(t, "devices:\n  ca_cert: x\n  lifetimes: 3d\n"); err == nil || !strings.Contains(err.Error(), `line 3: unknown key "lifetimes"`) {
		t.Fatalf("unknown key: %v", err)
	}
	for text, want := range map[string]string{
		"devices: {ca_cert: " + ca + "}\n":                                    "ca_cert and ca_key are required",
		"devices: {ca_cert: " + ca + ", ca_key: " + ok + "}\n":                "not the key of the CA certificate",
		"devices: {ca_cert: " + ca + ", ca_key: " + k + ", lifetime: 400d}\n": "devices.lifetime",
		"devices: {ca_cert: " + ca + ", ca_key: " + k + ", crl_cache: x}\n":   "devices.crl_cache",
	} {
		f, err := load(t, text)
		if err == nil {
			_, err = f.Build(io.Discard)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
}
