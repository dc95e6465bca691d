package certs

import (
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

func TestSchedule(t *testing.T) {
	nb := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour) // two thirds: day 60
	day := func(d float64) time.Time { return nb.Add(time.Duration(d * 24 * float64(time.Hour))) }
	win := func(s, e float64) *RenewalInfo { return &RenewalInfo{Start: day(s), End: day(e)} }
	for _, tc := range []struct {
		name   string
		ari    *RenewalInfo
		now    time.Time
		pick   float64
		at     time.Time
		source string
		due    bool
		note   bool
	}{
		{"no ARI: two thirds", nil, day(10), 0.5, day(60), "two-thirds", false, false},
		{"no ARI: due at two thirds", nil, day(60), 0.5, day(60), "two-thirds", true, false},
		{"no ARI: overdue", nil, day(80), 0.5, day(60), "two-thirds", true, false},
		{"ARI window start", win(58, 62), day(10), 0, day(58), "ari", false, false},
		{"ARI window middle", win(58, 62), day(10), 0.5, day(60), "ari", false, false},
		{"ARI pick clamped", win(58, 62), day(10), 7, day(62), "ari", false, false},
		{"ARI earlier than two thirds (CA revoking)", win(11, 12), day(11.75), 0.5, day(11.5), "ari", true, false},
		{"ARI window passed: now", win(20, 21), day(30), 0.5, day(30), "ari", true, false},
		{"ARI inverted window ignored", win(62, 58), day(10), 0.5, day(60), "two-thirds", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Schedule(nb, na, tc.ari, tc.now, tc.pick)
			if !p.At.Equal(tc.at) || p.Source != tc.source || p.Due != tc.due || (p.Note != "") != tc.note {
				t.Fatalf("Schedule = %+v, want at %s source %s due %v note %v", p, tc.at, tc.source, tc.due, tc.note)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	for _, tc := range []struct {
		name     string
		n        int
		res      *http.Response
		deadline time.Time
		want     time.Duration
	}{
		{"badNonce at once", 1, res(400, ""), time.Time{}, time.Millisecond},
		{"429 Retry-After seconds", 1, res(429, "7"), time.Time{}, 7 * time.Second},
		{"503 Retry-After date", 1, res(503, now.Add(30*time.Second).Format(http.TimeFormat)), time.Time{}, 30 * time.Second},
		{"429 Retry-After beyond the cap: stop", 1, res(429, "3600"), time.Time{}, 0},
		{"Retry-After beyond the deadline: stop", 1, res(429, "50"), now.Add(40 * time.Second), 0},
		{"500 without Retry-After: 1s", 1, res(500, ""), time.Time{}, time.Second},
		{"500 third retry: 4s", 3, res(500, ""), time.Time{}, 4 * time.Second},
		{"500 capped at 30s", 9, res(500, ""), time.Time{}, 30 * time.Second},
		{"too many retries", MaxRetries + 1, res(500, ""), time.Time{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Backoff{MaxRetryAfter: time.Minute, Deadline: tc.deadline, Now: func() time.Time { return now }}
			if got := b.Next(tc.n, nil, tc.res); got != tc.want {
				t.Fatalf("Next = %s, want %s", got, tc.want)
			}
		})
	}
	// A Retry-After not waited for turns the CA's error into a
	// RateLimitError that says how long to wait.
	b := &Backoff{MaxRetryAfter: time.Minute, Now: func() time.Time { return now }}
	b.Next(1, nil, res(429, "3600"))
	var rl *RateLimitError
	if err := b.explain(&acme.Error{StatusCode: 429, ProblemType: "urn:ietf:params:acme:error:rateLimited"}); !errors.As(err, &rl) || rl.RetryAfter != time.Hour {
		t.Fatalf("explain = %v", err)
	}
}

// TestCertID is the example of RFC 9773 §4.1.
func TestCertID(t *testing.T) {
	aki := []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}
	serial, _ := new(big.Int).SetString("0087654321", 16)
	got, err := CertID(&x509.Certificate{AuthorityKeyId: aki, SerialNumber: serial})
	if err != nil {
		t.Fatal(err)
	}
	if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; got != want {
		t.Fatalf("CertID = %s, want %s", got, want)
	}
	if _, err := CertID(&x509.Certificate{SerialNumber: serial}); err == nil {
		t.Fatal("no AKI accepted")
	}
}

// TestCheckChain: what the CA returns is used only for the key and names
// asked for.
func TestCheckChain(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "api.example.com"))
	ders := [][]byte{h.Leaf.Cert.Raw, h.Intermediate.Cert.Raw}
	want := h.Leaf.Pin()
	if _, err := checkChain(ders, want, []string{"api.example.com"}); err != nil {
		t.Fatal(err)
	}
	other := pin.FromSPKI([]byte("another key"))
	var me *MismatchError
	if _, err := checkChain(ders, other, []string{"api.example.com"}); !errors.As(err, &me) || me.Got != want {
		t.Fatalf("other key: %v", err)
	}
	if _, err := checkChain(ders, want, []string{"api.example.com", "www.example.com"}); !errors.As(err, &me) || len(me.Missing) != 1 {
		t.Fatalf("missing name: %v", err)
	}
	if _, err := checkChain([][]byte{h.Leaf.Cert.Raw, h.Root.Cert.Raw}, want, []string{"api.example.com"}); err == nil {
		t.Fatal("chain out of order accepted")
	}
	if _, err := checkChain(nil, want, nil); err == nil {
		t.Fatal("empty chain accepted")
	}
}

func TestNormalizeDomains(t *testing.T) {
	got, err := NormalizeDomains([]string{"API.Example.com.", "*.example.com", "api.example.com"})
	if err != nil || strings.Join(got, ",") != "api.example.com,*.example.com" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range [][]string{nil, {"127.0.0.1"}, {"::1"}, {"a..b"}, {"*.*.example.com"}} {
		if _, err := NormalizeDomains(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHTTP01ServerServesOnlyPresented(t *testing.T) {
	s := &HTTP01Server{answers: map[string]string{}}
	token := "abcdefghijklmnopqrstuvwxyz0123456789-_"
	cleanup, _ := s.Present(t.Context(), Challenge{Token: token, KeyAuth: token + ".thumb"})
	get := func(method, path string) (int, string) {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w.Code, w.Body.String()
	}
	if code, body := get("GET", http01Prefix+token); code != 200 || body != token+".thumb" {
		t.Fatalf("presented token: %d %q", code, body)
	}
	for _, p := range []string{"/", http01Prefix, http01Prefix + "unknownunknownunknownunknown", http01Prefix + "../../etc/passwd", "/other/" + token} {
		if code, _ := get("GET", p); code != 404 {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code, _ := get("POST", http01Prefix+token); code != 404 {
		t.Errorf("POST: %d", code)
	}
	cleanup(t.Context())
	if code, _ := get("GET", http01Prefix+token); code != 404 {
		t.Errorf("after cleanup: %d", code)
	}
}

func TestLoadAccountKey(t *testing.T) {
	name := filepath.Join(t.TempDir(), "account.key")
	k1, created, err := LoadAccountKey(name, nil)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	k2, created, err := LoadAccountKey(name, nil)
	if err != nil || created {
		t.Fatal(created, err)
	}
	p1, _ := keyring.Pin(k1)
	p2, _ := keyring.Pin(k2)
	if p1 != p2 {
		t.Fatal("reloaded another key")
	}
	os.Chmod(name, 0o644)
	var me *ModeError
	if _, _, err := LoadAccountKey(name, nil); !errors.As(err, &me) {
		t.Fatalf("world-readable account key: %v", err)
	}
}

// TestCheckStored: a chain kept from an earlier issuance is used only for
// its key and names, in order, within its validity, and bounded.
func TestCheckStored(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "api.example.com"))
	chain := h.Leaf.ChainPEM()
	want := h.Leaf.Pin()
	now := h.Leaf.Cert.NotBefore.Add(time.Hour)
	if got, err := CheckStored(chain, want, []string{"api.example.com"}, now); err != nil || len(got) < 2 {
		t.Fatalf("good chain: %v", err)
	}
	var me *MismatchError
	if _, err := CheckStored(chain, pin.FromSPKI([]byte("k")), []string{"api.example.com"}, now); !errors.As(err, &me) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := CheckStored(chain, want, []string{"www.example.com"}, now); !errors.As(err, &me) {
		t.Fatalf("other name: %v", err)
	}
	var ee *ExpiredError
	if _, err := CheckStored(chain, want, []string{"api.example.com"}, h.Leaf.Cert.NotAfter.Add(time.Second)); !errors.As(err, &ee) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := CheckStored(chain, want, []string{"api.example.com"}, h.Leaf.Cert.NotBefore.Add(-time.Second)); !errors.As(err, &ee) {
		t.Fatalf("not yet valid: %v", err)
	}
	long := []byte{}
	for range MaxStoredChain + 1 {
		long = append(long, h.Leaf.CertPEM()...)
	}
	if _, err := CheckStored(long, want, []string{"api.example.com"}, now); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("long chain: %v", err)
	}
	if _, err := CheckStored(append(h.Leaf.KeyPEM(), chain...), want, []string{"api.example.com"}, now); err == nil {
		t.Fatal("a key block in a chain accepted")
	}
	if _, err := CheckStored(nil, want, []string{"api.example.com"}, now); err == nil {
		t.Fatal("empty file accepted")
	}
}
