package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"
	"time"

	"pinset.dev/pinset/pin"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestKeyTypes(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			h, err := NewHierarchy(Template{KeyType: kt, Now: func() time.Time { return testNow }}, "api.example.test", "127.0.0.1", "[::1]")
			if err != nil {
				t.Fatal(err)
			}
			if got := pin.KeyType(h.Leaf.Cert.PublicKey); got == "" {
				t.Fatal("no key type")
			}
			opts := x509.VerifyOptions{Roots: h.Root.Pool(), Intermediates: x509.NewCertPool(), CurrentTime: testNow}
			opts.Intermediates.AddCert(h.Intermediate.Cert)
			for _, name := range []string{"api.example.test", "127.0.0.1", "::1"} {
				opts.DNSName = name
				chains, err := h.Leaf.Cert.Verify(opts)
				if err != nil {
					t.Fatalf("verify for %s: %v", name, err)
				}
				if len(chains[0]) != 3 {
					t.Fatalf("chain length %d, want 3", len(chains[0]))
				}
			}
			if len(h.Leaf.Chain) != 3 || h.Leaf.Chain[2] != h.Root.Cert {
				t.Fatal("Leaf.Chain does not end at the root")
			}
			tc := h.Leaf.TLSCertificate()
			if len(tc.Certificate) != 2 {
				t.Fatalf("served chain has %d certificates, want leaf and intermediate", len(tc.Certificate))
			}
			items, err := pin.ParseItems(h.Leaf.ChainPEM(), "chain.pem")
			if err != nil || len(items) != 2 || items[0].Pin != h.Leaf.Pin() || items[1].Pin != h.Intermediate.Pin() {
				t.Fatalf("ChainPEM round trip: %v %v", items, err)
			}
			kitems, err := pin.ParseItems(h.Leaf.KeyPEM(), "key.pem")
			if err != nil || kitems[0].Pin != h.Leaf.Pin() {
				t.Fatalf("KeyPEM pin differs: %v", err)
			}
			if _, err := tls.X509KeyPair(h.Leaf.ChainPEM(), h.Leaf.KeyPEM()); err != nil {
				t.Fatalf("X509KeyPair: %v", err)
			}
		})
	}
}

func TestValidityWindow(t *testing.T) {
	nb := testNow.Add(-48 * time.Hour)
	na := testNow.Add(-24 * time.Hour)
	root := Must(NewRoot(Template{Now: func() time.Time { return testNow }}))
	leaf := Must(root.NewLeaf(Template{Hosts: []string{"expired.test"}, NotBefore: nb, NotAfter: na}))
	if !leaf.Cert.NotAfter.Equal(na) || !leaf.Cert.NotBefore.Equal(nb) {
		t.Fatalf("window %v..%v, want %v..%v", leaf.Cert.NotBefore, leaf.Cert.NotAfter, nb, na)
	}
	_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: root.Pool(), DNSName: "expired.test", CurrentTime: testNow})
	if err == nil {
		t.Fatal("expired leaf verified")
	}
}

func TestDeterministic(t *testing.T) {
	for _, kt := range []KeyType{P256, P384, Ed25519} {
		a := Must(NewKey(kt, NewDeterministicRand("seed")))
		b := Must(NewKey(kt, NewDeterministicRand("seed")))
		c := Must(NewKey(kt, NewDeterministicRand("other")))
		pa, _ := pin.FromPublicKey(a.Public())
		pb, _ := pin.FromPublicKey(b.Public())
		pc, _ := pin.FromPublicKey(c.Public())
		if pa != pb || pa == pc {
			t.Errorf("%s: same seed gave different keys or different seeds the same key", kt)
		}
	}
	if _, err := NewKey("dsa", nil); err == nil {
		t.Error("unknown key type accepted")
	}
	var short io.Reader = &io.LimitedReader{R: NewDeterministicRand("x"), N: 3}
	if _, err := NewKey(P256, short); err == nil {
		t.Error("short random source accepted")
	}
}

func TestSelfSignedAndLoopbackTLS(t *testing.T) {
	h := Must(NewHierarchy(Template{}, "127.0.0.1"))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{h.Leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: h.Root.Pool()})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().VerifiedChains[0]; len(got) != 3 {
		t.Fatalf("verified chain length %d", len(got))
	}
	ss := Must(NewSelfSigned(Template{Hosts: []string{"self.test"}}))
	if err := ss.Cert.CheckSignature(ss.Cert.SignatureAlgorithm, ss.Cert.RawTBSCertificate, ss.Cert.Signature); err != nil {
		t.Fatal("self-signed certificate does not verify with its own key")
	}
	if _, err := NewSelfSigned(Template{}); err == nil {
		t.Fatal("leaf without hosts accepted")
	}
}
