package keyring

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

func TestGenerateTypes(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		want func(any) bool
	}{
		{P256, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().Name == "P-256" }},
		{P384, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().Name == "P-384" }},
		{RSA2048, func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
		{RSA3072, func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 3072 }},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			k, err := Generate(tc.typ, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(k) {
				t.Fatalf("Generate(%s) = %T", tc.typ, k)
			}
			if TypeOf(k.Public()) != tc.typ {
				t.Errorf("TypeOf = %q", TypeOf(k.Public()))
			}
			b, err := MarshalPEM(k)
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode(b)
			if blk == nil || blk.Type != "PRIVATE KEY" {
				t.Fatalf("not a PKCS#8 PEM block: %q", b)
			}
			if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
				t.Fatal(err)
			}
			back, err := ParsePEM(b)
			if err != nil {
				t.Fatal(err)
			}
			p1, _ := Pin(k)
			p2, _ := Pin(back)
			// The pin must be the one the pin package computes from the
			// same PEM (what `pinset pin KEY` prints).
			items, err := pin.ParseItems(b, "k.pem")
			if err != nil || len(items) != 1 {
				t.Fatalf("pin.ParseItems: %v %v", items, err)
			}
			if p1 != p2 || p1 != items[0].Pin {
				t.Fatalf("pins differ: %s %s %s", p1, p2, items[0].Pin)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{"": P256, "p256": P256, "P384": P384, "rsa2048": RSA2048, " rsa3072 ": RSA3072} {
		if got, err := ParseType(in); err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ed25519", "rsa1024", "rsa4096", "p521"} {
		if _, err := ParseType(in); err == nil {
			t.Errorf("ParseType(%q) accepted", in)
		}
	}
}

func TestParsePEMForms(t *testing.T) {
	ec, _ := Generate(P256, pki.NewDeterministicRand("ec"))
	rs, _ := Generate(RSA2048, nil)
	ecDER, _ := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rs.(*rsa.PrivateKey))})
	p8, _ := MarshalPEM(ec)
	cert := pki.Must(pki.NewSelfSigned(pki.Template{Hosts: []string{"x.example"}})).CertPEM()
	for _, tc := range []struct {
		name, data, err string
	}{
		{"pkcs8", string(p8), ""},
		{"sec1", string(sec1), ""},
		{"sec1 with openssl parameters", string(params) + string(sec1), ""},
		{"pkcs1", string(pkcs1), ""},
		{"two keys", string(p8) + string(sec1), "more than one"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"certificate", string(cert), "not a private key"},
		{"empty", "", "no PEM private key"},
		{"garbage pkcs8", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PRIVATE KEY"},
		{"too large", strings.Repeat("A", MaxKeyFile+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePEM([]byte(tc.data))
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestWriteNewMode(t *testing.T) {
	old := setUmask(0)
	defer setUmask(old)
	name := filepath.Join(t.TempDir(), "k.key")
	if err := WriteNew(name, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := WriteNew(name, []byte("other")); !errors.Is(err, ErrExist) {
		t.Fatalf("second WriteNew: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(name); string(b) != "secret" {
		t.Fatalf("file replaced: %q", b)
	}
}

func TestRingLifecycle(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, "api.example.com"); !errors.Is(err, ErrNoRing) {
		t.Fatalf("Open of no ring: %v", err)
	}
	r, err := Create(dir, "API.Example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Base(r.Dir()); got != "api.example.com" {
		t.Fatalf("ring dir %q", got)
	}
	var pins []pin.Pin
	for i, typ := range []Type{P256, P384, P256} {
		k, _ := Generate(typ, pki.NewDeterministicRand("ring"+string(rune('0'+i))))
		p, err := r.Add(k)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
		fi, err := os.Stat(r.KeyPath(p))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file %v mode %v", err, fi)
		}
	}
	st := r.State()
	if st.Live != pins[0] || len(st.Next) != 2 || st.Next[0] != pins[1] || st.Next[1] != pins[2] {
		t.Fatalf("state after adds: %+v", st)
	}

	// A second process sees the same ring.
	r2, err := Open(dir, "api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.State(); got.Live != pins[0] || len(got.Next) != 2 {
		t.Fatalf("reopened: %+v", got)
	}
	if k, err := r2.Key(pins[1]); err != nil {
		t.Fatal(err)
	} else if p, _ := Pin(k); p != pins[1] {
		t.Fatal("Key returned another key")
	}

	live, err := r2.Promote()
	if err != nil || live != pins[1] {
		t.Fatalf("Promote = %s, %v", live, err)
	}
	st = r2.State()
	if st.Live != pins[1] || len(st.Next) != 1 || st.Next[0] != pins[2] || len(st.Retired) != 1 || st.Retired[0] != pins[0] {
		t.Fatalf("after promote: %+v", st)
	}
	if err := r2.Forget(pins[1]); err == nil {
		t.Fatal("Forget of the live key accepted")
	}
	if err := r2.Forget(pins[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r2.KeyPath(pins[0])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired key file still there: %v", err)
	}
	if _, err := r2.Promote(); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Promote(); err == nil {
		t.Fatal("Promote with no next key accepted")
	}
	if _, err := Create(dir, "api.example.com"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
}

func TestRingRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	r, err := Create(dir, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := Generate(P256, pki.NewDeterministicRand("1"))
	k2, _ := Generate(P256, pki.NewDeterministicRand("2"))
	p1, _ := r.Add(k1)
	p2, _ := r.Add(k2)

	// A key file swapped for another key is caught by its name.
	b, _ := os.ReadFile(r.KeyPath(p2))
	os.Chmod(r.KeyPath(p1), 0o600)
	if err := os.WriteFile(r.KeyPath(p1), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Key(p1); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("swapped key file: %v", err)
	}

	ringJSON := filepath.Join(r.Dir(), "ring.json")
	for name, body := range map[string]string{
		"unknown field": `{"host":"a.example","live":"` + p1.String() + `","next":[],"retired":[],"extra":1}`,
		"duplicate pin": `{"host":"a.example","live":"` + p1.String() + `","next":["` + p1.String() + `"],"retired":[]}`,
		"other host":    `{"host":"b.example","next":[],"retired":[]}`,
		"trailing data": `{"host":"a.example","next":[],"retired":[]} {}`,
		"missing key":   `{"host":"a.example","live":"` + pin.FromSPKI([]byte("x")).String() + `","next":[],"retired":[]}`,
		"bad pin":       `{"host":"a.example","live":"AAAA","next":[],"retired":[]}`,
	} {
		if err := os.WriteFile(ringJSON, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, "a.example"); err == nil {
			t.Errorf("%s: Open accepted %s", name, body)
		}
	}
	for _, host := range []string{"../x", "a/b", "*.example", ""} {
		if _, err := Create(dir, host); err == nil {
			t.Errorf("Create(%q) accepted", host)
		}
	}
}

// FuzzParseState: any ring.json that parses lists no pin twice and comes
// back the same after a round trip.
func FuzzParseState(f *testing.F) {
	p1, p2 := pin.FromSPKI([]byte("1")), pin.FromSPKI([]byte("2"))
	f.Add([]byte(`{"host":"a.example","live":"` + p1.String() + `","next":["` + p2.String() + `"],"retired":[]}`))
	f.Add([]byte(`{"host":"a.example","next":[],"retired":[]}`))
	f.Add([]byte(`{"host":"a.example","live":"` + p1.String() + `","next":["` + p1.String() + `"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if err != nil {
			return
		}
		seen := map[pin.Pin]bool{}
		for _, p := range append(append([]pin.Pin{st.Live}, st.Next...), st.Retired...) {
			if p.IsZero() {
				continue
			}
			if seen[p] {
				t.Fatalf("pin %s twice accepted", p)
			}
			seen[p] = true
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := parseState(out)
		if err != nil {
			t.Fatalf("round trip refused: %v", err)
		}
		if st2.Live != st.Live || len(st2.Next) != len(st.Next) || len(st2.Retired) != len(st.Retired) || st2.Host != st.Host {
			t.Fatalf("round trip changed %+v to %+v", st, st2)
		}
	})
}

// TestRingChains: a key's certificate chain is kept beside it (0600), only
// for a key of the ring and only when its leaf carries that key; Forget
// removes it with the key.
func TestRingChains(t *testing.T) {
	r, err := Create(t.TempDir(), "api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	var pins []pin.Pin
	var leaves []*pki.Leaf
	for i := range 2 {
		k, _ := Generate(P256, pki.NewDeterministicRand("chain"+string(rune('0'+i))))
		p, err := r.Add(k)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
		leaves = append(leaves, pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"api.example.com"}, Key: k})))
	}
	if _, err := r.Chain(pins[1]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no chain yet: %v", err)
	}
	if err := r.SaveChain(pins[1], leaves[0].ChainPEM()); err == nil || !strings.Contains(err.Error(), "not kept") {
		t.Fatalf("another key's chain kept: %v", err)
	}
	if err := r.SaveChain(pin.FromSPKI([]byte("x")), leaves[0].ChainPEM()); err == nil {
		t.Fatal("chain for a key outside the ring kept")
	}
	if err := r.SaveChain(pins[1], leaves[1].KeyPEM()); err == nil {
		t.Fatal("a key saved as a chain")
	}
	if err := r.SaveChain(pins[1], leaves[1].ChainPEM()); err != nil {
		t.Fatal(err)
	}
	if b, err := r.Chain(pins[1]); err != nil || !bytes.Equal(b, leaves[1].ChainPEM()) {
		t.Fatalf("read back: %v", err)
	}
	if fi, _ := os.Stat(r.ChainPath(pins[1])); fi.Mode().Perm() != 0o600 {
		t.Fatalf("chain mode %v", fi.Mode().Perm())
	}
	os.WriteFile(r.ChainPath(pins[0]), make([]byte, MaxChainFile+1), 0o600)
	if _, err := r.Chain(pins[0]); err == nil {
		t.Fatal("oversized chain read")
	}
	if err := r.SaveChain(pins[0], leaves[0].ChainPEM()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Promote(); err != nil {
		t.Fatal(err)
	}
	if err := r.Forget(pins[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.ChainPath(pins[0])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired key's chain still there: %v", err)
	}
}
