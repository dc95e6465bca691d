package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceCommands: ca new writes the key with mode 0600 and refuses to
// overwrite; issue signs a CSR for the id; crl lists the revoked serial.
func TestDeviceCommands(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if code, _, errs := runCLI(t, "device", "ca", "new", "--cert", cert, "--key", key); code != 0 {
		t.Fatalf("ca new: %d %s", code, errs)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", st.Mode(), err)
	}
	if code, _, errs := runCLI(t, "device", "ca", "new", "--cert", cert, "--key", key); code == 0 || !strings.Contains(errs, "--force") {
		t.Errorf("ca new over existing files: %d %s", code, errs)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	csr := filepath.Join(dir, "d.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
	code, out, errs := runCLI(t, "device", "issue", "--ca", cert, "--ca-key", key, "--csr", csr, "--id", "phone-1")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errs)
	}
	b, _ := pem.Decode([]byte(out))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || c.Subject.CommonName != "phone-1" {
		t.Fatalf("issued %v %v", c, err)
	}
	rev := filepath.Join(dir, "revoked.txt")
	os.WriteFile(rev, []byte(c.SerialNumber.Text(16)+"\n"), 0o644)
	crl := filepath.Join(dir, "crl.pem")
	if code, _, errs := runCLI(t, "device", "crl", "--ca", cert, "--ca-key", key, "--revoked", rev, "-o", crl); code != 0 {
		t.Fatalf("crl: %d %s", code, errs)
	}
	cb, _ := os.ReadFile(crl)
	blk, _ := pem.Decode(cb)
	rl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil || len(rl.RevokedCertificateEntries) != 1 || rl.RevokedCertificateEntries[0].SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Fatalf("crl: %v %+v", err, rl)
	}
	if code, _, errs := runCLI(t, "device", "issue", "--ca", cert, "--ca-key", key, "--csr", csr, "--id", "a/b"); code == 0 || !strings.Contains(errs, "device id") {
		t.Errorf("bad id: %d %s", code, errs)
	}
}
