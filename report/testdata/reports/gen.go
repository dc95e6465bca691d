//go:build ignore

// gen writes the report fixtures of this directory: the shapes of
// ../../../docs/reports.md filled with a small generated chain.
// Run: cd report/testdata/reports && go run gen.go
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"time"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func main() {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fixture Interception CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER := must(x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey))
	caCert := must(x509.ParseCertificate(caDER))
	leafKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.example.com"},
		DNSNames: []string{"api.example.com"}, NotBefore: nb, NotAfter: na, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER := must(x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey))
	p := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	chain := []string{p(leafDER), p(caDER)}
	pinOf := func(k *ecdsa.PrivateKey) string {
		spki := must(x509.MarshalPKIXPublicKey(&k.PublicKey))
		s := sha256.Sum256(spki)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	// The expected pins are of keys the chain does not hold: a failure.
	k1 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	k2 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	known := []string{`pin-sha256="` + pinOf(k1) + `"`, `pin-sha256="` + pinOf(k2) + `"`}

	write := func(name string, v any) {
		b := must(json.MarshalIndent(v, "", "  "))
		if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
			panic(err)
		}
	}
	write("trustkit-ios.json", map[string]any{
		"app-bundle-id": "com.example.shop", "app-version": "4.2.1", "app-platform": "IOS",
		"app-platform-version": "17.4.1", "app-vendor-id": "6C1F4A3B-2B1E-4E4A-9F0B-2C7A1D5E8F90",
		"trustkit-version": "3.0.3", "date-time": "2026-03-14T09:26:53Z", "hostname": "api.example.com",
		"port": 0, "noted-hostname": "example.com", "include-subdomains": true, "enforce-pinning": true,
		"validated-certificate-chain": chain, "known-pins": known, "validation-result": 1,
		"known-pins-expiration-date": "2026-12-31",
	})
	// TrustKit-Android writes the device's local time (here Tokyo, UTC+9)
	// followed by a literal Z: see report.readTime.
	write("trustkit-android.json", map[string]any{
		"app-bundle-id": "com.example.shop", "app-version": "4.2.0", "app-platform": "ANDROID",
		"app-vendor-id": "a3f1c2d4e5b60718", "trustkit-version": "1.1.5", "date-time": "2026-03-14T18:27:01Z",
		"hostname": "api.example.com", "port": 0, "noted-hostname": "api.example.com",
		"include-subdomains": false, "enforce-pinning": true, "served-certificate-chain": chain,
		"validated-certificate-chain": chain, "known-pins": known, "validation-result": 1,
	})
	write("hpkp.json", map[string]any{
		"date-time": "2026-03-14T09:28:10Z", "hostname": "api.example.com", "port": 443,
		"effective-expiration-date": "2026-04-13T09:28:10Z", "include-subdomains": false,
		"noted-hostname": "api.example.com", "served-certificate-chain": chain,
		"validated-certificate-chain": chain, "known-pins": known,
	})
	write("pinset-go.json", map[string]any{
		"app-bundle-id": "shop", "app-version": "1.0.0", "app-platform": "GO", "app-platform-version": "go1.26.8",
		"trustkit-version": "pinset/0.1", "date-time": "2026-03-14T09:29:00Z", "hostname": "api.example.com",
		"port": 8443, "noted-hostname": "api.example.com", "include-subdomains": false, "enforce-pinning": false,
		"validated-certificate-chain": chain, "served-certificate-chain": chain, "known-pins": known,
		"validation-result": 1, "known-pins-expiration-date": nil,
	})
}
