package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceCLI: the CA is made with its key 0600, serve issues from it,
// a token from 'device token new' enrolls once, 'device revoke' puts the
// certificate in the CRL serve hands out.
func TestDeviceCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	keyFile, certFile := filepath.Join(dir, "ca.key"), filepath.Join(dir, "ca.pem")
	if out, errOut, err := pinsetRun(t, nil, "device", "ca", "new", "--out-key", keyFile, "--out-cert", certFile); err != nil {
		t.Fatalf("ca new: %v\n%s%s", err, out, errOut)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	if _, _, err := pinsetRun(t, nil, "device", "ca", "new", "--out-key", keyFile, "--out-cert", certFile); err == nil {
		t.Fatal("ca new replaced an existing key without --force")
	}
	caPEM, _ := os.ReadFile(certFile)
	blk, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA certificate: %v", err)
	}
	tok := newTokenCLI(t, data)
	repo, _ := freshRepo(t, dir)
	rootFile := writeFile(t, dir, "root.json", repo.Root())
	cfg := writeFile(t, dir, "serve.yaml", []byte(fmt.Sprintf("devices: {ca_cert: %s, ca_key: %s, lifetime: 2d}\n", certFile, keyFile)))
	p := startServe(t, "--data", data, "--config", cfg)
	env := []string{"PINSET_TOKEN=" + tok}
	if out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile); err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err := pinsetRun(t, env, "device", "token", "new", "--server", p.url, "--app", "shop", "--device-id", "phone-42")
	if err != nil || !strings.Contains(errOut, "device phone-42 of shop") {
		t.Fatalf("token new: %v\n%s%s", err, out, errOut)
	}
	enrollTok := strings.TrimSpace(out)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	body, _ := json.Marshal(map[string]string{"token": enrollTok, "csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	for i, want := range []int{201, 403} {
		res, err := http.Post(p.url+"/v1/apps/shop/devices/enroll", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("enroll %d: %d %s", i, res.StatusCode, b)
		}
	}
	if out, errOut, err := pinsetRun(t, env, "device", "revoke", "--server", p.url, "--app", "shop", "phone-42", "--reason", "lost"); err != nil ||
		!strings.Contains(out, "1 certificates") {
		t.Fatalf("revoke: %v\n%s%s", err, out, errOut)
	}
	res, err := http.Get(p.url + "/v1/apps/shop/devices/crl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	crl, err := x509.ParseRevocationList(b)
	if err != nil || crl.CheckSignatureFrom(ca) != nil || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL: %v %+v", err, crl)
	}
	if strings.Contains(p.logs.String(), enrollTok) {
		t.Error("serve logged the enrollment token")
	}
}
