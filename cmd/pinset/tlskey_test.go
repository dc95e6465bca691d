package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/keyring"
)

// pinOf returns what `pinset pin FILE --format base64` prints for a file.
func pinOf(t *testing.T, file string) string {
	t.Helper()
	code, out, errs := runCLI(t, "pin", "--format", "base64", file)
	if code != 0 {
		t.Fatalf("pinset pin %s: %d %s", file, code, errs)
	}
	return strings.TrimSpace(out)
}

func TestKeyNewTLS(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{"", "p384", "rsa2048", "rsa3072"} {
		name := filepath.Join(dir, "srv-"+alg)
		args := []string{"key", "new", "--tls", name}
		if alg != "" {
			args = append(args, "--alg", alg)
		}
		code, out, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		fi, err := os.Stat(name + ".key")
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s.key: %v %v", name, err, fi)
		}
		if _, err := os.Stat(name + ".pub"); err == nil {
			t.Errorf("--tls wrote a .pub file")
		}
		k, err := keyring.ReadFile(name + ".key")
		if err != nil {
			t.Fatal(err)
		}
		want := keyring.Type(alg)
		if alg == "" {
			want = keyring.P256
		}
		if keyring.TypeOf(k.Public()) != want {
			t.Errorf("type %q, want %q", keyring.TypeOf(k.Public()), want)
		}
		if p := pinOf(t, name+".key"); !strings.Contains(out, "pin: "+p+"\n") {
			t.Errorf("printed %q; pinset pin says %s", out, p)
		}
	}
	// Never overwritten, with or without --force; no signing algorithms.
	for _, args := range [][]string{
		{"key", "new", "--tls", filepath.Join(dir, "srv-")},
		{"key", "new", "--tls", "--force", filepath.Join(dir, "srv-")},
		{"key", "new", "--tls", "--alg", "ed25519", filepath.Join(dir, "x")},
		{"key", "new", "--tls"},
		{"key", "new", "--tls", "--ring", dir},
	} {
		if code, _, _ := runCLI(t, args...); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
}

func TestKeyNewTLSRing(t *testing.T) {
	dir := t.TempDir()
	var pins []string
	for i, role := range []string{"live", "next", "next"} {
		code, out, errs := runCLI(t, "key", "new", "--tls", "--ring", dir, "--host", "api.example.com")
		if code != 0 {
			t.Fatalf("%d: %s", code, errs)
		}
		if !strings.Contains(out, "ring: "+role+" key of api.example.com") {
			t.Fatalf("key %d: %q, want role %s", i, out, role)
		}
		_, p, _ := strings.Cut(out, "pin: ")
		pins = append(pins, strings.TrimSpace(p))
	}
	r, err := keyring.Open(dir, "api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	st := r.State()
	if st.Live.String() != pins[0] || len(st.Next) != 2 || st.Next[0].String() != pins[1] || st.Next[1].String() != pins[2] {
		t.Fatalf("ring %+v, printed %v", st, pins)
	}
	if got := pinOf(t, r.KeyPath(st.Next[1])); got != pins[2] {
		t.Fatalf("pinset pin of the ring file = %s, printed %s", got, pins[2])
	}
}
