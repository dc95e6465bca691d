package device

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
)

type urlT = url.URL

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

func TestDecodeEnrollRequest(t *testing.T) {
	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"token":"t","csr":"c"}`, nil},
		{`{"token":"t","csr":"c","x":1}`, ErrMalformed},
		{`{"token":"t","csr":"c"} {}`, ErrMalformed},
		{`{"token":"t","token":"u","csr":"c"}`, ErrMalformed},
		{`{"token":"t"}`, ErrMalformed},
		{`[]`, ErrMalformed},
		{`{"token":"` + strings.Repeat("t", MaxTokenLen+1) + `","csr":"c"}`, ErrMalformed},
		{`{"token":"t","csr":"` + strings.Repeat("c", MaxCSRBytes+1) + `"}`, ErrTooLarge},
		{`{"token":"t","csr":"` + strings.Repeat("c", MaxRequestBytes) + `"}`, ErrTooLarge},
	} {
		_, err := DecodeEnrollRequest(strings.NewReader(tc.body))
		if !errors.Is(err, tc.want) || (tc.want != nil && err == nil) {
			t.Errorf("%.60s: %v, want %v", tc.body, err, tc.want)
		}
	}
}

// FuzzDecodeEnrollRequest: whatever the body, decoding ends with a request
// within the limits or a typed error, and never panics; an accepted
// request's CSR goes through ParseCSR without a panic.
func FuzzDecodeEnrollRequest(f *testing.F) {
	for _, s := range []string{
		`{"token":"pinset_enroll_x","csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}`,
		`{"token":"t","csr":"c"}`, `{"token":"t","token":"t","csr":"c"}`, `{"token":1}`, `null`, `{}`, `{"csr":"c"}trailing`,
		"\xef\xbb\xbf{}", `{"token":"t","csr":"c","certificate":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeEnrollRequest(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if req.Token == "" || req.CSR == "" || len(req.Token) > MaxTokenLen || len(req.CSR) > MaxCSRBytes {
			t.Fatalf("accepted %+v", req)
		}
		if _, err := ParseCSR(req.CSR); err != nil && !errors.Is(err, ErrBadCSR) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("untyped CSR error %v", err)
		}
	})
}
