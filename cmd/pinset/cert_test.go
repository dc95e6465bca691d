package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/internal/pebbletest"
)

// TestCertIssueAndRenewKeepPin: pinset cert issue against Pebble (default
// nonce rejection on) gives a leaf whose pin is `pinset pin KEY`; renew
// is not due on a fresh certificate, and a forced renewal keeps the pin
// while the certificate changes.
func TestCertIssueAndRenewKeepPin(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "api-next")
	if code, _, errs := runCLI(t, "key", "new", "--tls", keyBase); code != 0 {
		t.Fatal(errs)
	}
	key, out, acct := keyBase+".key", filepath.Join(dir, "api.pem"), filepath.Join(dir, "acct.key")
	args := []string{"--acme-directory", p.DirectoryURL, "--acme-ca-file", p.CAFile, "--agree-tos",
		"--key", key, "--http01-listen", "127.0.0.1:0", "--out", out, "--account-key", acct}
	code, stdout, errs := runCLI(t, append([]string{"cert", "issue", "--domain", "api.pinset.test", "--domain", "www.pinset.test"}, args...)...)
	if code != 0 {
		t.Fatalf("cert issue: %d\n%s", code, errs)
	}
	keyPin := pinOf(t, key)
	leafPin := strings.SplitN(pinOf(t, out), "\n", 2)[0]
	if leafPin != keyPin || !strings.Contains(stdout, "pin: "+keyPin) {
		t.Fatalf("leaf pin %s, key pin %s; printed:\n%s", leafPin, keyPin, stdout)
	}
	if !strings.Contains(stdout, "renew: ") || !strings.Contains(stdout, "(ARI)") {
		t.Errorf("no ARI renewal plan printed:\n%s", stdout)
	}
	if fi, err := os.Stat(acct); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key: %v %v", err, fi)
	}
	first, _ := os.ReadFile(out)

	code, stdout, errs = runCLI(t, append([]string{"cert", "renew"}, args...)...)
	if code != 0 || !strings.Contains(stdout, "not due") {
		t.Fatalf("renew of a fresh certificate: %d\n%s\n%s", code, stdout, errs)
	}
	code, stdout, errs = runCLI(t, append([]string{"cert", "renew", "--force"}, args...)...)
	if code != 0 {
		t.Fatalf("renew --force: %d\n%s", code, errs)
	}
	second, _ := os.ReadFile(out)
	if string(first) == string(second) {
		t.Fatal("renewal did not replace the certificate")
	}
	if got := strings.SplitN(pinOf(t, out), "\n", 2)[0]; got != keyPin {
		t.Fatalf("renewed leaf pin %s, want %s", got, keyPin)
	}
	if !strings.Contains(stdout, "www.pinset.test") {
		t.Errorf("renewal dropped a name:\n%s", stdout)
	}

	// Renewing with another key is refused: renew keeps the key.
	if code, _, _ := runCLI(t, "key", "new", "--tls", filepath.Join(dir, "other")); code != 0 {
		t.Fatal("key new")
	}
	bad := append([]string{"cert", "renew", "--force"}, args...)
	for i, a := range bad {
		if a == key {
			bad[i] = filepath.Join(dir, "other.key")
		}
	}
	if code, _, errs := runCLI(t, bad...); code == 0 || !strings.Contains(errs, "not a certificate for") {
		t.Fatalf("renew with another key: %d %s", code, errs)
	}
}

// --acme-ca-file is read as every --cafile is (loadCAs: the system roots
// plus the file's certificates), and its errors name the flag.
func TestCertACMECAFile(t *testing.T) {
	dir := t.TempDir()
	keyBase := filepath.Join(dir, "api")
	if code, _, errs := runCLI(t, "key", "new", "--tls", keyBase); code != 0 {
		t.Fatal(errs)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "--acme-ca-file " + filepath.Join(dir, "missing.pem"),
		notPEM:                            "--acme-ca-file " + notPEM + ": no PEM CERTIFICATE block found",
	} {
		code, _, errs := runCLI(t, "cert", "issue", "--acme-directory", "https://127.0.0.1:1/directory", "--acme-ca-file", file,
			"--key", keyBase+".key", "--domain", "api.pinset.test", "--http01-listen", "127.0.0.1:0",
			"--out", filepath.Join(dir, "api.pem"), "--account-key", filepath.Join(dir, "acct.key"))
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("--acme-ca-file %s: exit %d, stderr %q; want %q", filepath.Base(file), code, errs, want)
		}
	}
}
