// Package enforcetest holds the table of pin decisions that every caller of
// [enforce.Enforcer.Check] must reproduce: the Go handshake hook
// (VerifyConnection, package enforce) and the check a platform trust hook
// calls with the chain the platform verified (package mobile). Both tests
// run the same cases against the same loopback servers, so the two paths
// cannot drift apart.
package enforcetest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Names every test leaf is valid for; the policies pin some of them.
var names = []string{
	"api.pinset.test", "inter.pinset.test", "root.pinset.test",
	"a.wild.pinset.test", "b.a.wild.pinset.test", "wild.pinset.test",
	"deep.pinset.test", "x.y.deep.pinset.test",
	"report.pinset.test", "free.pinset.test",
	"x.mix.pinset.test", "y.mix.pinset.test",
	"127.0.0.1",
}

// Verdict is what the decision does with a connection.
type Verdict int

const (
	// Accept: the connection goes ahead and no failure is recorded.
	Accept Verdict = iota + 1
	// Refuse: the connection is refused with an enforce.ErrPinMismatch
	// failure, which is also recorded (event and report).
	Refuse
	// ReportOnly: the connection goes ahead and a failure is recorded.
	ReportOnly
)

func (v Verdict) String() string {
	return map[Verdict]string{Accept: "accept", Refuse: "refuse", ReportOnly: "report-only"}[v]
}

// Case is one connection: a host name, the server it reaches, and the
// decision.
type Case struct {
	Host   string
	Server string // "genuine", "rogue" or "cve"
	Want   Verdict
	Why    string
}

// Cases is the shared table.
func Cases() []Case {
	return []Case{
		{"api.pinset.test", "genuine", Accept, "the leaf's key is pinned"},
		{"api.pinset.test", "rogue", Refuse, "a chain from another trusted CA holds no pinned key"},
		{"api.pinset.test", "cve", Refuse, "CVE-2016-2402: the pinned leaf is appended to a rogue chain, but it is not in the verified chain"},
		{"API.PINSET.TEST", "rogue", Refuse, "host names match case-insensitively"},
		{"inter.pinset.test", "genuine", Accept, "the intermediate's key is pinned"},
		{"inter.pinset.test", "cve", Refuse, "CVE-2016-2402 with the pinned intermediate appended"},
		{"root.pinset.test", "genuine", Accept, "the root's key is pinned: the verified chain includes the root"},
		{"root.pinset.test", "rogue", Refuse, "the root's key is pinned; another root is not"},
		{"a.wild.pinset.test", "rogue", Refuse, "*.wild.pinset.test covers one label below"},
		{"b.a.wild.pinset.test", "rogue", Accept, "*.wild.pinset.test does not cover two labels below"},
		{"wild.pinset.test", "rogue", Accept, "*.wild.pinset.test does not cover its base"},
		{"deep.pinset.test", "rogue", Refuse, "**.deep.pinset.test covers its base"},
		{"x.y.deep.pinset.test", "rogue", Refuse, "**.deep.pinset.test covers every depth"},
		{"x.y.deep.pinset.test", "genuine", Accept, "**.deep.pinset.test, genuine chain"},
		{"report.pinset.test", "rogue", ReportOnly, "a report-only policy records the failure and lets the connection through"},
		{"report.pinset.test", "genuine", Accept, "report-only, pinned key present: nothing to record"},
		{"free.pinset.test", "rogue", Accept, "no policy covers the host"},
		{"x.mix.pinset.test", "genuine", Refuse, "the most specific policy (x.mix.pinset.test) applies alone, though **.mix.pinset.test pins this chain"},
		{"y.mix.pinset.test", "genuine", Accept, "**.mix.pinset.test applies"},
		{"127.0.0.1", "genuine", Accept, "IP literal, pinned"},
		{"127.0.0.1", "rogue", Refuse, "IP literal, pinned"},
	}
}

// World is two CA hierarchies the client trusts, genuine and rogue (a
// mis-issuing public CA, or one installed on the device), and a loopback
// TLS server for each served chain.
type World struct {
	Genuine, Rogue *pki.Hierarchy
	// Roots holds both roots: only pinning tells the two apart.
	Roots *x509.CertPool
	// Backup and Other are pins of keys no server uses.
	Backup, Other pin.Pin
	addrs         map[string]string
}

// NewWorld makes the hierarchies (deterministic keys, certificates valid
// around now) and starts the servers; they stop when t ends.
func NewWorld(t testing.TB) *World {
	t.Helper()
	hier := func(seed string) *pki.Hierarchy {
		root := pki.Must(pki.NewRoot(pki.Template{CommonName: seed + " root", Rand: pki.NewDeterministicRand(seed + "-root")}))
		inter := pki.Must(root.NewIntermediate(pki.Template{CommonName: seed + " issuing CA", Rand: pki.NewDeterministicRand(seed + "-inter")}))
		leaf := pki.Must(inter.NewLeaf(pki.Template{Hosts: names, Rand: pki.NewDeterministicRand(seed + "-leaf")}))
		return &pki.Hierarchy{Root: root, Intermediate: inter, Leaf: leaf}
	}
	w := &World{Genuine: hier("enforcetest genuine"), Rogue: hier("enforcetest rogue"), Roots: x509.NewCertPool(), addrs: map[string]string{}}
	w.Roots.AddCert(w.Genuine.Root.Cert)
	w.Roots.AddCert(w.Rogue.Root.Cert)
	keyPin := func(seed string) pin.Pin {
		p, _ := pin.FromPublicKey(pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand(seed))).Public())
		return p
	}
	w.Backup, w.Other = keyPin("enforcetest backup"), keyPin("enforcetest other")
	w.addrs["genuine"] = Serve(t, w.Genuine.Leaf.TLSCertificate())
	w.addrs["rogue"] = Serve(t, w.Rogue.Leaf.TLSCertificate())
	w.addrs["cve"] = Serve(t, w.Rogue.Leaf.TLSCertificate(w.Genuine.Leaf.Cert, w.Genuine.Intermediate.Cert))
	return w
}

// Policies are the host policies of the table, each with a backup pin.
func (w *World) Policies() []policy.Policy {
	g := w.Genuine
	pol := func(pattern string, p pin.Pin) policy.Policy {
		return policy.Policy{Pattern: pattern, Pins: []pin.Pin{p, w.Backup}}
	}
	report := pol("report.pinset.test", g.Leaf.Pin())
	report.ReportOnly = true
	return []policy.Policy{
		pol("api.pinset.test", g.Leaf.Pin()),
		pol("inter.pinset.test", g.Intermediate.Pin()),
		pol("root.pinset.test", g.Root.Pin()),
		pol("*.wild.pinset.test", g.Leaf.Pin()),
		pol("**.deep.pinset.test", g.Leaf.Pin()),
		report,
		pol("**.mix.pinset.test", g.Intermediate.Pin()),
		pol("x.mix.pinset.test", w.Other),
		pol("127.0.0.1", g.Leaf.Pin()),
	}
}

// Addr returns the host:port of a server: "genuine", "rogue" or "cve".
func (w *World) Addr(server string) string { return w.addrs[server] }

// Port returns the port of a server.
func (w *World) Port(server string) int {
	_, p, _ := net.SplitHostPort(w.addrs[server])
	n, _ := strconv.Atoi(p)
	return n
}

// Serve starts a loopback TLS server that completes each handshake, writes
// a line and closes; it returns the address. Tests of other packages use it
// too.
func Serve(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = io.WriteString(c, "ok\n")
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
