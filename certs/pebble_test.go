package certs

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/keyring"
)

func newKey(t *testing.T, typ keyring.Type) crypto.Signer {
	t.Helper()
	k, err := keyring.Generate(typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func listen(t *testing.T, addr string) *HTTP01Server {
	t.Helper()
	s, err := ListenHTTP01(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func opts(p *pebbletest.Pebble, t *testing.T, s Solver) Options {
	return Options{
		DirectoryURL: p.DirectoryURL,
		HTTPClient:   p.HTTPClient,
		AccountKey:   newKey(t, keyring.P256),
		AgreeTerms:   true,
		Solver:       s,
		Timeout:      2 * time.Minute,
		Logf:         t.Logf,
	}
}

// verify checks that the chain verifies to Pebble's issuing root for name.
func verify(t *testing.T, p *pebbletest.Pebble, r *Result, name string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range r.Chain[1:] {
		inter.AddCert(c)
	}
	if _, err := r.Chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: p.IssuerRoots(t), Intermediates: inter}); err != nil {
		t.Fatalf("issued chain does not verify: %v", err)
	}
}

// TestIssueKeepsKey: the leaf carries the key given (its pin is the key's
// pin) for each server key type, and a renewal with the same key keeps
// the pin while the certificate changes. Pebble's default nonce rejection
// (5%) stays on.
func TestIssueKeepsKey(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	o := opts(p, t, listen(t, "127.0.0.1:0"))
	for _, typ := range []keyring.Type{keyring.P256, keyring.P384, keyring.RSA2048} {
		t.Run(string(typ), func(t *testing.T) {
			key := newKey(t, typ)
			want, _ := keyring.Pin(key)
			r1, err := Issue(context.Background(), key, []string{"api.pinset.test", "www.pinset.test"}, o)
			if err != nil {
				t.Fatal(err)
			}
			if r1.Pin != want || r1.Chain[0].PublicKey == nil {
				t.Fatalf("pin %s, want %s", r1.Pin, want)
			}
			verify(t, p, r1, "www.pinset.test")
			r2, err := Issue(context.Background(), key, []string{"api.pinset.test", "www.pinset.test"}, o)
			if err != nil {
				t.Fatal(err)
			}
			if r2.Pin != want || r2.Chain[0].SerialNumber.Cmp(r1.Chain[0].SerialNumber) == 0 {
				t.Fatalf("renewal: pin %s (want %s), serial %x and %x", r2.Pin, want, r1.Chain[0].SerialNumber, r2.Chain[0].SerialNumber)
			}
		})
	}
}

// TestIssueBadNonceRetried: with Pebble refusing half the nonces,
// issuance still succeeds because badNonce is retried (x/crypto/acme does
// it; Backoff counts it).
func TestIssueBadNonceRetried(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true, NonceReject: 50})
	r, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"api.pinset.test"}, opts(p, t, listen(t, "127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	if r.BadNonces == 0 {
		t.Fatalf("no badNonce seen with 50%% rejection (retries %d)", r.Retries)
	}
	t.Logf("%d badNonce refusals retried", r.BadNonces)
}

// TestIssueHTTP01Validated: Pebble really fetches the key authorization
// from pinset's HTTP-01 listener (Pebble's httpPort is the listener's
// port; the test's DNS server sends every name to 127.0.0.1).
func TestIssueHTTP01Validated(t *testing.T) {
	port := pebbletest.FreePort(t)
	s := listen(t, fmt.Sprintf("127.0.0.1:%d", port))
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port, DNS: true})
	key := newKey(t, keyring.P256)
	r, err := Issue(context.Background(), key, []string{"api.pinset.test"}, opts(p, t, s))
	if err != nil {
		t.Fatal(err)
	}
	verify(t, p, r, "api.pinset.test")

	// The same set-up without the listener's answers fails validation.
	o := opts(p, t, &HTTP01Server{ln: s.ln, srv: s.srv, answers: map[string]string{}})
	o.Solver = silentSolver{"http-01"}
	_, err = Issue(context.Background(), key, []string{"other.pinset.test"}, o)
	var ce *ChallengeError
	if !errors.As(err, &ce) {
		t.Fatalf("unanswered challenge: %v, want a ChallengeError", err)
	}
}

// silentSolver presents nothing.
type silentSolver struct{ typ string }

func (s silentSolver) Type() string { return s.typ }
func (s silentSolver) Present(context.Context, Challenge) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

// TestIssueDNS01Hook: the hook is run with set and clear, the record name
// and value; Pebble validates the TXT record through the test's DNS
// server, which reads what the hook wrote.
func TestIssueDNS01Hook(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{DNS: true})
	dir := t.TempDir()
	p.DNS().SetTXTDir(dir)
	log := filepath.Join(dir, "hook.log")
	hook := filepath.Join(t.TempDir(), "hook.sh")
	script := `#!/bin/sh
echo "$1 $2" >> ` + log + `
case "$1" in
set) echo "$3" > ` + dir + `/"$2" ;;
clear) rm -f ` + dir + `/"$2" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(hook, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"*.pinset.test", "pinset.test"}, opts(p, t, &DNS01Hook{Command: []string{hook}}))
	if err != nil {
		t.Fatal(err)
	}
	verify(t, p, r, "api.pinset.test")
	b, _ := os.ReadFile(log)
	got := string(b)
	if !strings.Contains(got, "set _acme-challenge.pinset.test") || !strings.Contains(got, "clear _acme-challenge.pinset.test") {
		t.Fatalf("hook calls:\n%s", got)
	}

	// A failing hook is a ChallengeError with its output.
	o := opts(p, t, &DNS01Hook{Command: []string{"sh", "-c", "echo no zone for $2 >&2; exit 3", "hook"}})
	_, err = Issue(context.Background(), newKey(t, keyring.P256), []string{"x.pinset.test"}, o)
	var ce *ChallengeError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no zone for _acme-challenge.x.pinset.test") {
		t.Fatalf("failing hook: %v", err)
	}
}

// TestIssueProfileAndEAB: a profile the CA offers sets the lifetime; one
// it does not is refused; a CA that requires external account binding
// refuses an account without it.
func TestIssueProfileAndEAB(t *testing.T) {
	hmac := "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	p := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true, EAB: map[string]string{"kid-1": hmac}})
	s := listen(t, "127.0.0.1:0")
	o := opts(p, t, s)
	if _, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"a.pinset.test"}, o); err == nil || !strings.Contains(err.Error(), "external account binding") {
		t.Fatalf("no EAB: %v", err)
	}
	key, _ := decodeB64URL(hmac)
	o.EAB = &acme.ExternalAccountBinding{KID: "kid-1", Key: key}
	o.Profile = "shortlived"
	r, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"a.pinset.test"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if life := r.Chain[0].NotAfter.Sub(r.Chain[0].NotBefore); life > 7*24*time.Hour {
		t.Fatalf("shortlived profile gave %s", life)
	}
	o.Profile = "forever"
	if _, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"a.pinset.test"}, o); err == nil {
		t.Fatal("unknown profile accepted")
	}
}

// TestRenewalInfoFromPebble: the ARI window Pebble gives is read and used
// by Schedule; a window the CA moves (management API) moves the plan.
func TestRenewalInfoFromPebble(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	r, err := Issue(context.Background(), newKey(t, keyring.P256), []string{"a.pinset.test"}, opts(p, t, listen(t, "127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	leaf := r.Chain[0]
	now := leaf.NotBefore.Add(time.Hour)
	ri, err := FetchRenewalInfo(context.Background(), p.HTTPClient, p.DirectoryURL, leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ri.Start.After(leaf.NotBefore) || !ri.End.Before(leaf.NotAfter.Add(time.Second)) {
		t.Fatalf("window %s..%s outside the certificate's %s..%s", ri.Start, ri.End, leaf.NotBefore, leaf.NotAfter)
	}
	if plan := Schedule(leaf.NotBefore, leaf.NotAfter, ri, now, 0.5); plan.Source != "ari" || plan.Due {
		t.Fatalf("plan %+v", plan)
	}
	// The CA asks for renewal now (a window in the past).
	past := `{"suggestedWindow":{"start":"2020-01-01T00:00:00Z","end":"2020-01-02T00:00:00Z"}}`
	p.SetRenewalInfo(t, r.ChainPEM(), past)
	ri, err = FetchRenewalInfo(context.Background(), p.HTTPClient, p.DirectoryURL, leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	if plan := Schedule(leaf.NotBefore, leaf.NotAfter, ri, now, 0.5); plan.Source != "ari" || !plan.Due || !plan.At.Equal(now) {
		t.Fatalf("plan after the CA moved the window: %+v", plan)
	}
	// A malformed answer is an error, not a silent fallback.
	p.SetRenewalInfo(t, r.ChainPEM(), `{"suggestedWindow":{"start":"2030-01-02T00:00:00Z","end":"2030-01-01T00:00:00Z"}}`)
	if _, err := FetchRenewalInfo(context.Background(), p.HTTPClient, p.DirectoryURL, leaf, now); err == nil {
		t.Fatal("inverted window accepted")
	}
}

func decodeB64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
