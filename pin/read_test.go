package pin_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// hierarchy returns a root, intermediate and leaf with keys of type kt;
// the keys are deterministic except RSA.
func hierarchy(t testing.TB, kt pki.KeyType) *pki.Hierarchy {
	t.Helper()
	h, err := pki.NewHierarchy(pki.Template{KeyType: kt, Now: clock, Rand: pki.NewDeterministicRand("pin tests " + string(kt))}, "api.pinset.test")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOpenSSLPipeline compares pins with the reference's openssl pipeline,
// byte for byte, for every key type a server certificate may carry.
func TestOpenSSLPipeline(t *testing.T) {
	testtool.Need(t, "openssl", "apt-get install -y openssl")
	dir := t.TempDir()
	for _, kt := range pki.KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			h := hierarchy(t, kt)
			certFile := filepath.Join(dir, string(kt)+".pem")
			if err := os.WriteFile(certFile, h.Leaf.CertPEM(), 0o644); err != nil {
				t.Fatal(err)
			}
			// The reference pipeline, one openssl process per stage, each
			// stage's output fed to the next (no shell, so a failing stage
			// cannot hide behind the pipe).
			stages := [][]string{
				{"x509", "-in", certFile, "-pubkey", "-noout"},
				{"pkey", "-pubin", "-outform", "der"},
				{"dgst", "-sha256", "-binary"},
				{"enc", "-base64"},
			}
			var out []byte
			for i, args := range stages {
				cmd := exec.Command("openssl", args...)
				if i > 0 {
					cmd.Stdin = bytes.NewReader(out)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				var err error
				out, err = cmd.Output()
				if err != nil {
					t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
			}
			want := strings.TrimSpace(string(out))
			if len(want) != 44 {
				t.Fatalf("openssl printed %q, not a pin", want)
			}
			if got := pin.FromCertificate(h.Leaf.Cert).String(); got != want {
				t.Fatalf("FromCertificate = %s, openssl = %s", got, want)
			}
			items, err := pin.ParseItems(h.Leaf.CertPEM(), certFile)
			if err != nil || len(items) != 1 || items[0].Pin.String() != want {
				t.Fatalf("ParseItems pin differs from openssl: %v %v", items, err)
			}
			fromKey, err := pin.FromPublicKey(h.Leaf.Key.Public())
			if err != nil || fromKey.String() != want {
				t.Fatalf("FromPublicKey = %s, %v; openssl = %s", fromKey, err, want)
			}
		})
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// keyForms returns every PEM and DER encoding of a key that pinset reads,
// with the pin each must give.
func keyForms(t *testing.T, key crypto.Signer) map[string][]byte {
	t.Helper()
	forms := map[string][]byte{}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	forms["PUBLIC KEY"] = spki
	forms["PRIVATE KEY"] = pkcs8
	switch k := key.(type) {
	case *rsa.PrivateKey:
		forms["RSA PUBLIC KEY"] = x509.MarshalPKCS1PublicKey(&k.PublicKey)
		forms["RSA PRIVATE KEY"] = x509.MarshalPKCS1PrivateKey(k)
	case *ecdsa.PrivateKey:
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		forms["EC PRIVATE KEY"] = sec1
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr.pinset.test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	forms["CERTIFICATE REQUEST"] = csr
	return forms
}

func TestEveryBlockTypeAndDER(t *testing.T) {
	for _, kt := range pki.KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			h := hierarchy(t, kt)
			want := h.Leaf.Pin()
			for typ, der := range keyForms(t, h.Leaf.Key) {
				wantKind := pin.KindKey
				if typ == "CERTIFICATE REQUEST" {
					wantKind = pin.KindCSR
				}
				for form, data := range map[string][]byte{"PEM": pemBlock(typ, der), "DER": der} {
					items, err := pin.ParseItems(data, typ+" "+form)
					if err != nil {
						t.Fatalf("%s as %s: %v", typ, form, err)
					}
					if len(items) != 1 || items[0].Pin != want || items[0].Kind != wantKind {
						t.Fatalf("%s as %s: got %+v, want one %s with pin %s", typ, form, items, wantKind, want)
					}
					if items[0].KeyType != pin.KeyType(h.Leaf.Key.Public()) {
						t.Fatalf("%s as %s: key type %q", typ, form, items[0].KeyType)
					}
				}
			}
			// Certificates: PEM and DER, alone and as a concatenated chain.
			items, err := pin.ParseItems(h.Leaf.Cert.Raw, "leaf.der")
			if err != nil || len(items) != 1 || items[0].Pin != want || items[0].Kind != pin.KindCertificate {
				t.Fatalf("leaf DER: %+v %v", items, err)
			}
			if items[0].Subject != "CN=api.pinset.test" || !items[0].NotAfter.Equal(h.Leaf.Cert.NotAfter) {
				t.Fatalf("leaf subject %q not-after %v", items[0].Subject, items[0].NotAfter)
			}
			chainDER := append(append(append([]byte{}, h.Leaf.Cert.Raw...), h.Intermediate.Cert.Raw...), h.Root.Cert.Raw...)
			for name, data := range map[string][]byte{"chain.der": chainDER, "chain.pem": pki.CertPEM(h.Leaf.Chain...)} {
				items, err = pin.ParseItems(data, name)
				if err != nil || len(items) != 3 {
					t.Fatalf("%s: %v %v", name, items, err)
				}
				wantKinds := []pin.Kind{pin.KindLeaf, pin.KindIntermediate, pin.KindRoot}
				wantPins := h.Leaf.Pins()
				for i, it := range items {
					if it.Kind != wantKinds[i] || it.Pin != wantPins[i] {
						t.Fatalf("%s item %d: %s %s, want %s %s", name, i, it.Kind, it.Pin, wantKinds[i], wantPins[i])
					}
				}
			}
			root, err := pin.ParseItems(h.Root.CertPEM(), "root.pem")
			if err != nil || root[0].Kind != pin.KindRoot {
				t.Fatalf("a lone self-signed CA should be a root: %+v %v", root, err)
			}
		})
	}
}

// TestSeveralBlocks reads one file holding a chain, text around the blocks,
// the openssl ecparam EC PARAMETERS block, keys and a CSR.
func TestSeveralBlocks(t *testing.T) {
	h := hierarchy(t, pki.P256)
	other := pki.Must(pki.NewKey(pki.P384, pki.NewDeterministicRand("other")))
	forms := keyForms(t, other)
	var b bytes.Buffer
	b.WriteString("Certificate chain\n subject=CN=api.pinset.test\n")
	b.Write(h.Leaf.ChainPEM())
	b.WriteString("some commentary between blocks\n")
	b.Write(pemBlock("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}))
	b.Write(pemBlock("EC PRIVATE KEY", forms["EC PRIVATE KEY"]))
	b.Write(pemBlock("CERTIFICATE REQUEST", forms["CERTIFICATE REQUEST"]))
	b.Write(h.Root.CertPEM())
	items, err := pin.ParseItems(b.Bytes(), "bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	otherPin, _ := pin.FromPublicKey(other.Public())
	want := []struct {
		kind pin.Kind
		pin  pin.Pin
	}{
		{pin.KindLeaf, h.Leaf.Pin()},
		{pin.KindIntermediate, h.Intermediate.Pin()},
		{pin.KindKey, otherPin},
		{pin.KindCSR, otherPin},
		{pin.KindRoot, h.Root.Pin()},
	}
	if len(items) != len(want) {
		t.Fatalf("got %d items, want %d: %+v", len(items), len(want), items)
	}
	for i, w := range want {
		if items[i].Kind != w.kind || items[i].Pin != w.pin {
			t.Errorf("item %d: %s %s, want %s %s", i, items[i].Kind, items[i].Pin, w.kind, w.pin)
		}
	}
	if items[3].Subject != "CN=csr.pinset.test" {
		t.Errorf("CSR subject %q", items[3].Subject)
	}
}

func TestBadInput(t *testing.T) {
	h := hierarchy(t, pki.P256)
	certPEM := h.Leaf.CertPEM()
	certBlock, _ := pem.Decode(certPEM)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty input"},
		{"blank", []byte(" \n\t"), "empty input"},
		{"truncated PEM", certPEM[:len(certPEM)/2], "PEM block 1: malformed or truncated PEM"},
		{"missing END", bytes.TrimSuffix(certPEM, []byte("-----END CERTIFICATE-----\n")), "truncated PEM"},
		{"second block truncated", append(append([]byte{}, certPEM...), certPEM[:100]...), "PEM block 2: malformed or truncated"},
		{"bad base64 in PEM", bytes.Replace(certPEM, []byte("MII"), []byte("M!I"), 1), "malformed or truncated PEM"},
		{"wrong block type", pemBlock("X509 CRL", []byte{0x30, 0x00}), `unsupported PEM block type "X509 CRL"`},
		{"DH parameters", pemBlock("DH PARAMETERS", []byte{0x30, 0x00}), `unsupported PEM block type "DH PARAMETERS"`},
		{"encrypted key", pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}), "encrypted keys are not read"},
		{"garbage in CERTIFICATE", pemBlock("CERTIFICATE", []byte("not DER at all")), "PEM block 1: CERTIFICATE: x509:"},
		{"garbage in PUBLIC KEY", pemBlock("PUBLIC KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01}), "PUBLIC KEY:"},
		{"garbage in EC PRIVATE KEY", pemBlock("EC PRIVATE KEY", []byte{1, 2, 3}), "EC PRIVATE KEY:"},
		{"garbage in CSR", pemBlock("CERTIFICATE REQUEST", []byte{1, 2, 3}), "CERTIFICATE REQUEST:"},
		{"garbage DER", []byte{0x30, 0x82, 0x01, 0x00, 0xde, 0xad}, "not PEM, and not a DER certificate"},
		{"text", []byte("hello world\n"), "not PEM, and not a DER certificate"},
		{"truncated DER", certBlock.Bytes[:len(certBlock.Bytes)-10], "not PEM, and not a DER certificate"},
		{"only EC PARAMETERS", pemBlock("EC PARAMETERS", []byte{0x06, 0x01, 0x00}), "no certificate, key or CSR found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := pin.ParseItems(tc.data, "in.pem")
			var re *pin.ReadError
			if !errors.As(err, &re) || re.Name != "in.pem" {
				t.Fatalf("got %v, %v; want a *ReadError naming in.pem", items, err)
			}
			if !strings.HasPrefix(err.Error(), "in.pem: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestOversizedInput(t *testing.T) {
	big := bytes.Repeat([]byte("A"), pin.MaxFileSize+1)
	_, err := pin.ReadItems(bytes.NewReader(big), "big.pem")
	if !errors.Is(err, pin.ErrTooLarge) || !strings.HasPrefix(err.Error(), "big.pem: ") {
		t.Fatalf("ReadItems: %v", err)
	}
	if _, err := pin.ParseItems(big, "big.der"); !errors.Is(err, pin.ErrTooLarge) {
		t.Fatalf("ParseItems: %v", err)
	}
	// An endless reader is cut at the cap rather than read to the end.
	_, err = pin.ReadItems(endless{}, "-")
	if !errors.Is(err, pin.ErrTooLarge) {
		t.Fatalf("endless input: %v", err)
	}
	// Exactly at the cap is read (and fails for its content, not its size).
	h := hierarchy(t, pki.P256)
	padded := append(bytes.Repeat([]byte("#"), pin.MaxFileSize-len(h.Leaf.CertPEM())-1), '\n')
	padded = append(padded, h.Leaf.CertPEM()...)
	items, err := pin.ReadItems(bytes.NewReader(padded), "padded.pem")
	if err != nil || len(items) != 1 {
		t.Fatalf("input of exactly MaxFileSize bytes: %v", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// FuzzParseItems feeds the PEM/DER reader arbitrary bytes: it must not
// panic, and whatever it accepts must carry non-zero pins and known kinds.
func FuzzParseItems(f *testing.F) {
	h := hierarchy(f, pki.P256)
	ed := hierarchy(f, pki.Ed25519)
	f.Add(h.Leaf.CertPEM())
	f.Add(h.Leaf.ChainPEM())
	f.Add(h.Leaf.Cert.Raw)
	f.Add(h.Leaf.KeyPEM())
	f.Add(ed.Leaf.KeyPEM())
	f.Add(ed.Root.CertPEM())
	spki, _ := x509.MarshalPKIXPublicKey(h.Leaf.Key.Public())
	f.Add(spki)
	f.Add(pemBlock("PUBLIC KEY", spki))
	sec1, _ := x509.MarshalECPrivateKey(h.Leaf.Key.(*ecdsa.PrivateKey))
	f.Add(pemBlock("EC PRIVATE KEY", sec1))
	csr, _ := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, h.Leaf.Key)
	f.Add(pemBlock("CERTIFICATE REQUEST", csr))
	f.Add(csr)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMII\n"))
	f.Add([]byte("-----BEGIN X-----\n-----END X-----\n"))
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := pin.ParseItems(data, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no error and no items")
		}
		for _, it := range items {
			if it.Pin.IsZero() {
				t.Fatal("zero pin")
			}
			switch it.Kind {
			case pin.KindLeaf, pin.KindIntermediate, pin.KindRoot, pin.KindCertificate, pin.KindKey, pin.KindCSR:
			default:
				t.Fatalf("unknown kind %q", it.Kind)
			}
		}
	})
}

// TestP521 covers the one curve pki does not generate certificates for.
func TestP521(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pin.FromPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	for typ, der := range keyForms(t, k) {
		items, err := pin.ParseItems(pemBlock(typ, der), "p521.pem")
		if err != nil || items[0].Pin != want || items[0].KeyType != "ECDSA-P-521" {
			t.Fatalf("%s: %+v %v", typ, items, err)
		}
	}
}

// TestBundleIsNotAChain: a file of unrelated CA certificates (a trust
// store bundle) is not labelled leaf / intermediate.
func TestBundleIsNotAChain(t *testing.T) {
	a := hierarchy(t, pki.P256)
	b := hierarchy(t, pki.P384)
	data := pki.CertPEM(a.Root.Cert, b.Root.Cert, a.Leaf.Cert)
	items, err := pin.ParseItems(data, "bundle.pem")
	if err != nil || len(items) != 3 {
		t.Fatal(items, err)
	}
	want := []pin.Kind{pin.KindRoot, pin.KindRoot, pin.KindCertificate}
	for i, it := range items {
		if it.Kind != want[i] {
			t.Errorf("item %d: %s, want %s", i, it.Kind, want[i])
		}
	}
}

// TestFromChains: every certificate of every chain, leaf first, each
// key once (two chains through one intermediate share its pin).
func TestFromChains(t *testing.T) {
	h := hierarchy(t, pki.P256)
	leaf, inter, root := h.Leaf.Cert, h.Intermediate.Cert, h.Root.Cert
	got := pin.FromChains([][]*x509.Certificate{{leaf, inter, root}, {leaf, inter}})
	want := []pin.Pin{h.Leaf.Pin(), h.Intermediate.Pin(), h.Root.Pin()}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("FromChains = %v, want %v", got, want)
	}
	if got := pin.FromChains(nil); got != nil {
		t.Fatalf("FromChains(nil) = %v", got)
	}
}
