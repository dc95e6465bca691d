package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

func init() {
	scriptCmds["pinpki"] = scriptPinPKI
	scriptCmds["pinserver"] = scriptPinServer
	scriptConds["ipv6"] = scriptHaveIPv6
}

// scriptHaveIPv6 reports whether the IPv6 loopback address can be used
// (containers often run without it).
func scriptHaveIPv6() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// scriptPinPKI writes a P-256 root, intermediate and leaf into DIR, with
// every key and certificate encoding `pinset pin` reads, and sets
// ROOT_PIN, INTER_PIN, LEAF_PIN, OTHER_PIN (bare base64), the *_RE
// variants quoted for regular expressions, and LEAF_HEX, LEAF_COLONS.
//
//	pinpki DIR
func scriptPinPKI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pinpki DIR")
	}
	dir := ts.MkAbs(args[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		ts.Fatalf("%v", err)
	}
	h := pki.Must(pki.NewHierarchy(pki.Template{Rand: pki.NewDeterministicRand("pin script")}, "api.pinset.test", "127.0.0.1"))
	other := pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("pin script other")))
	spki, _ := x509.MarshalPKIXPublicKey(other.Public())
	sec1, _ := x509.MarshalECPrivateKey(other.(*ecdsa.PrivateKey))
	csr, _ := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr.pinset.test"}}, other)
	files := map[string][]byte{
		"root.pem":     h.Root.CertPEM(),
		"leaf.pem":     h.Leaf.CertPEM(),
		"chain.pem":    pki.CertPEM(h.Leaf.Chain...),
		"chain.der":    append(append(append([]byte{}, h.Leaf.Cert.Raw...), h.Intermediate.Cert.Raw...), h.Root.Cert.Raw...),
		"leaf.der":     h.Leaf.Cert.Raw,
		"leaf.key":     h.Leaf.KeyPEM(),
		"other.pub":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"other.ec.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"other.csr":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			ts.Fatalf("%v", err)
		}
	}
	otherPin, _ := pin.FromPublicKey(other.Public())
	for name, p := range map[string]pin.Pin{"ROOT_PIN": h.Root.Pin(), "INTER_PIN": h.Intermediate.Pin(), "LEAF_PIN": h.Leaf.Pin(), "OTHER_PIN": otherPin} {
		ts.Setenv(name, p.String())
		ts.Setenv(name+"_RE", regexp.QuoteMeta(p.String()))
	}
	ts.Setenv("LEAF_HEX", h.Leaf.Pin().Format(pin.Hex))
	ts.Setenv("LEAF_COLONS", h.Leaf.Pin().Format(pin.HexColons))
	ts.Setenv("LEAF_NOTAFTER", h.Leaf.Cert.NotAfter.UTC().Format(time.RFC3339))
}

// scriptPinCAs keeps each script's server hierarchies, so that a second
// server can share the first one's CA.
var scriptPinCAs sync.Map // key: scriptPinKey

type scriptPinKey struct {
	ts   *testscript.TestScript
	name string
}

// scriptPinServer starts a loopback TLS server for the rest of the script
// and writes its CA to NAME-ca.pem. KIND is good (a chain from a private
// CA, valid for api.pinset.test and 127.0.0.1), expired, selfsigned, or
// silent (a TCP server that accepts and never answers), or
// cve (an attacker leaf from the CA followed by another genuine
// certificate, as in CVE-2016-2402). It sets NAME_ADDR (127.0.0.1:PORT),
// NAME_PORT, and NAME_LEAF_RE, NAME_INTER_RE, NAME_ROOT_RE, NAME_EXTRA_RE.
// LISTEN (default 127.0.0.1:0) picks the address; CA=OTHER issues from the
// CA of the server named OTHER (with a new leaf key).
//
//	pinserver NAME KIND [LISTEN] [CA=OTHER]
func scriptPinServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 4 {
		ts.Fatalf("usage: pinserver NAME good|expired|selfsigned|cve|silent [LISTEN] [CA=OTHER]")
	}
	name, kind := args[0], args[1]
	if kind == "silent" {
		scriptSilentServer(ts, name)
		return
	}
	listen := "127.0.0.1:0"
	var h *pki.Hierarchy
	for _, a := range args[2:] {
		if other, ok := strings.CutPrefix(a, "CA="); ok {
			v, found := scriptPinCAs.Load(scriptPinKey{ts, other})
			if !found {
				ts.Fatalf("pinserver: no server named %q yet", other)
			}
			oh := v.(*pki.Hierarchy)
			leaf := pki.Must(oh.Intermediate.NewLeaf(pki.Template{Hosts: []string{"api.pinset.test", "127.0.0.1", "127.0.0.2"}}))
			h = &pki.Hierarchy{Root: oh.Root, Intermediate: oh.Intermediate, Leaf: leaf}
		} else {
			listen = a
		}
	}
	if h == nil {
		h = pki.Must(pki.NewHierarchy(pki.Template{}, "api.pinset.test", "127.0.0.1", "127.0.0.2", "::1"))
	}
	scriptPinCAs.Store(scriptPinKey{ts, name}, h)
	extra := pki.Must(h.Intermediate.NewLeaf(pki.Template{Hosts: []string{"genuine.pinset.test"}}))
	var cert tls.Certificate
	leafPin := h.Leaf.Pin()
	switch kind {
	case "good":
		cert = h.Leaf.TLSCertificate()
	case "expired":
		now := time.Now()
		l := pki.Must(h.Intermediate.NewLeaf(pki.Template{Hosts: []string{"api.pinset.test", "127.0.0.1"}, NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}))
		cert, leafPin = l.TLSCertificate(), l.Pin()
	case "selfsigned":
		l := pki.Must(pki.NewSelfSigned(pki.Template{Hosts: []string{"api.pinset.test", "127.0.0.1"}}))
		cert, leafPin = l.TLSCertificate(), l.Pin()
	case "cve":
		cert = h.Leaf.TLSCertificate(extra.Cert)
	default:
		ts.Fatalf("pinserver: unknown kind %q", kind)
	}
	ln, err := tls.Listen("tcp", listen, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		ts.Fatalf("pinserver: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			}(c)
		}
	}()
	ts.Defer(func() { ln.Close(); scriptPinCAs.Delete(scriptPinKey{ts, name}) })
	addr := ln.Addr().(*net.TCPAddr)
	if err := os.WriteFile(ts.MkAbs(name+"-ca.pem"), h.Root.CertPEM(), 0o644); err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Setenv(name+"_ADDR", addr.String())
	ts.Setenv(name+"_PORT", strconv.Itoa(addr.Port))
	for k, p := range map[string]pin.Pin{"LEAF": leafPin, "INTER": h.Intermediate.Pin(), "ROOT": h.Root.Pin(), "EXTRA": extra.Pin()} {
		ts.Setenv(name+"_"+k+"_RE", regexp.QuoteMeta(p.String()))
		ts.Setenv(name+"_"+k, p.String())
	}
}

// scriptSilentServer accepts TCP connections and never speaks, so that
// clients time out in the TLS handshake. It sets NAME_ADDR.
func scriptSilentServer(ts *testscript.TestScript, name string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ts.Fatalf("pinserver: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	ts.Defer(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	ts.Setenv(name+"_ADDR", ln.Addr().String())
}
