package policy_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/report/trustkit"
)

// startTLS runs a loopback TLS server (enforcetest.Serve).
func startTLS(t *testing.T, cert tls.Certificate) string { return enforcetest.Serve(t, cert) }

// handshake connects to addr with cfg and reads the server's line.
func handshake(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.ReadAll(c)
	return err
}

// TestUnnormalisableHostStillPinned: a host name NormalizeHost refuses (an
// "xn--" label that is not valid punycode, a label longer than 63 bytes)
// that crypto/x509 still verifies against a *.example.com certificate is
// checked against the pins of the policy covering it, in a real handshake on
// loopback. Before, Match returned no policy for such a name and a
// certificate for *.example.com from any trusted CA passed unpinned.
func TestUnnormalisableHostStillPinned(t *testing.T) {
	genuine := pki.Must(pki.NewHierarchy(pki.Template{}, "*.example.com", "example.com"))
	// Mis-issued: same trusted CA, the attacker's key.
	rogue := pki.Must(genuine.Intermediate.NewLeaf(pki.Template{Hosts: []string{"*.example.com"}}))
	goodAddr := startTLS(t, genuine.Leaf.TLSCertificate())
	rogueAddr := startTLS(t, rogue.TLSCertificate())
	backup := pin.Pin{1}
	roots := genuine.Root.Pool()

	hosts := []string{
		"xn--zz.example.com",                     // not valid punycode
		"xn--a.example.com",                      // decodes to a code point UTS #46 refuses
		strings.Repeat("a", 64) + ".example.com", // label longer than 63 bytes
		"XN--ZZ.Example.COM.",                    // upper case, trailing dot
	}
	for _, pol := range []policy.Policy{
		{Pattern: "**.example.com"},
		{Pattern: "*.example.com"},
		{Pattern: "example.com", IncludeSubdomains: true},
	} {
		pol.Pins = []pin.Pin{genuine.Leaf.Pin(), backup}
		set, err := policy.NewSet([]policy.Policy{pol, {Pattern: "192.0.2.7", Pins: []pin.Pin{backup, {2}}}})
		if err != nil {
			t.Fatal(err)
		}
		var failures []*enforce.Failure
		e := enforce.New(enforce.Static(set), enforce.Options{OnFailure: func(f *enforce.Failure) { failures = append(failures, f) }})
		for _, host := range hosts {
			if _, err := policy.NormalizeHost(host); err == nil {
				t.Fatalf("%q: NormalizeHost accepts it; the test needs a name it refuses", host)
			}
			plain := &tls.Config{RootCAs: roots, ServerName: host}
			// Set-up: without pins, Go verifies the rogue chain for
			// this name, so only the pin check stands in the way.
			if err := handshake(rogueAddr, plain); err != nil {
				t.Fatalf("%q: set-up: the rogue chain should verify without pins: %v", host, err)
			}
			failures = nil
			err := handshake(rogueAddr, e.TLSConfig(plain))
			if !errors.Is(err, enforce.ErrPinMismatch) {
				t.Errorf("%s, host %q: rogue certificate for *.example.com: %v, want a pin mismatch", pol.Pattern, host, err)
			}
			if len(failures) != 1 || failures[0].Policy.Pattern != pol.Pattern {
				t.Errorf("%s, host %q: %d failures reported", pol.Pattern, host, len(failures))
			} else {
				// The failure names the host in the form the policy
				// matched it in, and its report reaches the service
				// (report.Parse used to refuse such a host name).
				f := failures[0]
				if f.Host != policy.FoldHost(host) {
					t.Errorf("%s, host %q: failure names %q, want %q", pol.Pattern, host, f.Host, policy.FoldHost(host))
				}
				body, err := trustkit.FromFailure(f, trustkit.App{BundleID: "shop"}, time.Unix(1e9, 0)).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				r, err := report.Parse(body, report.Options{App: "shop"})
				if err != nil {
					t.Errorf("%s, host %q: the report of this interception is refused: %v", pol.Pattern, host, err)
				} else if r.Host != f.Host || r.HostNote == "" {
					t.Errorf("%s, host %q: report host %q, note %q", pol.Pattern, host, r.Host, r.HostNote)
				}
			}
			if err := handshake(goodAddr, e.TLSConfig(plain)); err != nil {
				t.Errorf("%s, host %q: genuine certificate refused: %v", pol.Pattern, host, err)
			}
		}
	}
}
