package trust_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	mrand "math/rand/v2"
	"os/exec"
	"testing"

	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/trust"
)

func TestPAE(t *testing.T) {
	got := string(trust.PAE(trust.PayloadTypeManifest, []byte("{}")))
	if want := "DSSEv1 36 application/vnd.pinset.manifest+json 2 {}"; got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := string(trust.PAE("", nil)); got != "DSSEv1 0  0 " {
		t.Fatalf("empty PAE = %q", got)
	}
}

func TestGenerateKeyDeterministic(t *testing.T) {
	for _, alg := range []trust.Algorithm{trust.ECDSAP256SHA256, trust.Ed25519} {
		a, err := trust.GenerateKey(alg, mrand.NewChaCha8([32]byte{1}))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := trust.GenerateKey(alg, mrand.NewChaCha8([32]byte{1}))
		c, _ := trust.GenerateKey(alg, mrand.NewChaCha8([32]byte{2}))
		if a.Key.ID != b.Key.ID || a.Key.ID == c.Key.ID {
			t.Fatalf("%s: keys do not follow the random source", alg)
		}
		if a.Key.Alg != alg {
			t.Fatalf("alg %s, want %s", a.Key.Alg, alg)
		}
		// The key id is the key's SPKI pin in hex.
		if want := pin.FromSPKI(a.Key.SPKI).Format(pin.Hex); a.Key.ID != want {
			t.Fatalf("key id %s, want the hex pin %s", a.Key.ID, want)
		}
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	s, _ := trust.GenerateKey(trust.ECDSAP256SHA256, mrand.NewChaCha8([32]byte{3}))
	plain, err := s.MarshalPrivateKeyPEM(nil)
	if err != nil || !bytes.HasPrefix(plain, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("plain: %v %q", err, plain)
	}
	back, err := trust.ParsePrivateKeyPEM(plain, nil)
	if err != nil || back.Key.ID != s.Key.ID {
		t.Fatalf("plain round trip: %v", err)
	}
	enc, err := s.MarshalPrivateKeyPEM([]byte("hunter2"))
	if err != nil || !bytes.HasPrefix(enc, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		t.Fatalf("encrypted: %v", err)
	}
	if bytes.Contains(enc, plain[40:80]) {
		t.Fatal("encrypted file contains the plain key")
	}
	back, err = trust.ParsePrivateKeyPEM(enc, []byte("hunter2"))
	if err != nil || back.Key.ID != s.Key.ID {
		t.Fatalf("encrypted round trip: %v", err)
	}
	if _, err := trust.ParsePrivateKeyPEM(enc, []byte("wrong")); !errors.Is(err, trust.ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := trust.ParsePrivateKeyPEM(enc, nil); !errors.Is(err, trust.ErrPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	// Keys of other types are refused.
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k384)
	if _, err := trust.ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil); !errors.Is(err, trust.ErrAlgorithm) {
		t.Fatalf("P-384: %v", err)
	}
	pub, err := trust.ParsePublicKeyPEM(s.Key.MarshalPublicKeyPEM())
	if err != nil || pub.ID != s.Key.ID {
		t.Fatalf("public round trip: %v", err)
	}
}

// TestEncryptedKeyOpenSSL checks that OpenSSL reads the encrypted key
// format (PBES2, scrypt, AES-256-CBC).
func TestEncryptedKeyOpenSSL(t *testing.T) {
	testtool.Need(t, "openssl", "apt-get install -y openssl")
	s, _ := trust.GenerateKey(trust.ECDSAP256SHA256, mrand.NewChaCha8([32]byte{4}))
	enc, _ := s.MarshalPrivateKeyPEM([]byte("pass phrase"))
	cmd := exec.Command("openssl", "pkey", "-pubout", "-passin", "pass:pass phrase")
	cmd.Stdin = bytes.NewReader(enc)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	if !bytes.Equal(out, s.Key.MarshalPublicKeyPEM()) {
		t.Fatalf("openssl read another key:\n%s", out)
	}
}
