// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, for
// tests: on loopback, with a configuration and a TLS certificate the test
// makes, and optionally with a small DNS server of the test's own that
// Pebble's validation asks (A records to loopback, TXT records the test
// sets).
//
// Pebble is installed as a Go tool at a pinned version:
//
//	go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3
//
// and found on PATH or in $(go env GOPATH)/bin. When it is missing the
// test is skipped locally and fails in CI (package testtool).
package pebbletest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
)

// Install is how to get Pebble.
const Install = "go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 (binary in $(go env GOPATH)/bin)"

// Options configure a Pebble.
type Options struct {
	// AlwaysValid sets PEBBLE_VA_ALWAYS_VALID=1: challenges are not
	// checked. Only for tests that are not about validation.
	AlwaysValid bool
	// HTTPPort is the port Pebble connects to for HTTP-01.
	HTTPPort int
	// NonceReject is PEBBLE_WFE_NONCEREJECT (percent of good nonces
	// refused as badNonce); 0 keeps Pebble's default (5).
	NonceReject int
	// DNS runs a DNS server for Pebble's validation: every name resolves
	// to 127.0.0.1, TXT records come from TXT.
	DNS bool
	// EAB lists external account binding keys (kid → base64url HMAC key)
	// and makes them required.
	EAB map[string]string
}

// Pebble is a running Pebble.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile holds the root that verifies Pebble's API certificate.
	CAFile string
	// APIRoots verifies Pebble's API certificate.
	APIRoots *x509.CertPool
	// HTTPClient trusts APIRoots.
	HTTPClient *http.Client

	mgmt string
	dns  *DNS
	stop func()
}

// Binary finds the pebble program, or stops the test (testtool.Missing).
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "pebble")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testtool.Missing(t, "pebble not found on PATH or in $(go env GOPATH)/bin", Install)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs Pebble until the test ends.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	h, err := pki.NewHierarchy(pki.Template{}, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", h.Root.CertPEM())
	apiPort, mgmtPort := FreePort(t), FreePort(t)
	httpPort := opts.HTTPPort
	if httpPort == 0 {
		httpPort = FreePort(t)
	}
	cfg := map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(apiPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    write("api.pem", h.Leaf.ChainPEM()),
		"privateKey":                     write("api.key", h.Leaf.KeyPEM()),
		"httpPort":                       httpPort,
		"tlsPort":                        FreePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(opts.EAB) > 0,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": 90 * 86400},
			"shortlived": map[string]any{"description": "6 days", "validityPeriod": 6 * 86400},
		},
	}
	if len(opts.EAB) > 0 {
		cfg["externalAccountMACKeys"] = opts.EAB
	}
	cb, _ := json.MarshalIndent(map[string]any{"pebble": cfg}, "", "  ")
	cfgFile := write("pebble.json", cb)

	args := []string{"-config", cfgFile}
	p := &Pebble{
		DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		CAFile:       caFile,
		APIRoots:     h.Root.Pool(),
		mgmt:         fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
	}
	p.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}}}
	if opts.DNS {
		p.dns = startDNS(t)
		args = append(args, "-dnsserver", p.dns.Addr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
	if opts.AlwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	if opts.NonceReject != 0 {
		cmd.Env = append(cmd.Env, "PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(opts.NonceReject))
	}
	var logb syncBuffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", logb.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := p.HTTPClient.Get(p.DirectoryURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v\n%s", p.DirectoryURL, err, logb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// Stop ends Pebble now (a CA outage); the test's cleanup does it too.
func (p *Pebble) Stop() { p.stop() }

// DNS is the test's DNS server, or nil.
func (p *Pebble) DNS() *DNS { return p.dns }

// IssuerRoots returns the root Pebble issues under (management /roots/0).
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.IssuerRootPEM(t))
	return pool
}

// IssuerRootPEM is the root Pebble issues under, as PEM (for a cafile).
func (p *Pebble) IssuerRootPEM(t testing.TB) []byte {
	t.Helper()
	res, err := p.HTTPClient.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		t.Fatalf("pebble /roots/0: no certificate: %s", b)
	}
	return b
}

// SetRenewalInfo makes Pebble answer ARI for certPEM with body (its
// management API's /set-renewal-info).
func (p *Pebble) SetRenewalInfo(t testing.TB, certPEM []byte, body string) {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"Certificate": string(certPEM), "ARIResponse": body})
	res, err := p.HTTPClient.Post(p.mgmt+"/set-renewal-info/", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("set-renewal-info: %s %s", res.Status, b)
	}
}

// syncBuffer is testtool.SyncBuffer.
type syncBuffer = testtool.SyncBuffer
