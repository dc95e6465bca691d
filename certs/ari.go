package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"pinset.dev/pinset/internal/redact"
)

// maxARIBody bounds the directory and renewalInfo answers read here.
const maxARIBody = 64 << 10

// ErrNoARI is returned by FetchRenewalInfo when the CA's directory has no
// renewalInfo resource.
var ErrNoARI = errors.New("the CA does not offer ACME Renewal Information")

// RenewalInfo is a CA's suggested renewal window for one certificate
// (RFC 9773 §4.2).
type RenewalInfo struct {
	Start, End time.Time
	// ExplanationURL, when the CA gives one, says why the window moved.
	ExplanationURL string
	// RetryAfter is when to ask again (the Retry-After header).
	RetryAfter time.Duration
}

// CertID is the ARI identifier of a certificate (RFC 9773 §4.1):
// base64url(authority key identifier) "." base64url(serial number DER
// content octets).
func CertID(leaf *x509.Certificate) (string, error) {
	if len(leaf.AuthorityKeyId) == 0 {
		return "", errors.New("the certificate has no authority key identifier, so it has no ARI id")
	}
	if leaf.SerialNumber == nil || leaf.SerialNumber.Sign() <= 0 {
		return "", errors.New("the certificate's serial number is not positive")
	}
	serial := leaf.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 { // DER INTEGER: a positive number never has its top bit set
		serial = append([]byte{0}, serial...)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(serial), nil
}

// FetchRenewalInfo asks the CA at directoryURL for leaf's renewal window.
// It wraps ErrNoARI when the CA has none; the answer is checked (a window
// whose end is not after its start is an error).
func FetchRenewalInfo(ctx context.Context, hc *http.Client, directoryURL string, leaf *x509.Certificate, now time.Time) (*RenewalInfo, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	id, err := CertID(leaf)
	if err != nil {
		return nil, err
	}
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if _, err := getJSON(ctx, hc, directoryURL, &dir); err != nil {
		return nil, fmt.Errorf("reading the ACME directory: %w", err)
	}
	if dir.RenewalInfo == "" {
		return nil, ErrNoARI
	}
	var v struct {
		SuggestedWindow *struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	u := strings.TrimRight(dir.RenewalInfo, "/") + "/" + id
	h, err := getJSON(ctx, hc, u, &v)
	if err != nil {
		return nil, fmt.Errorf("reading renewal information: %w", err)
	}
	if v.SuggestedWindow == nil || v.SuggestedWindow.Start.IsZero() || v.SuggestedWindow.End.IsZero() {
		return nil, errors.New("renewal information without a suggested window")
	}
	if !v.SuggestedWindow.End.After(v.SuggestedWindow.Start) {
		return nil, fmt.Errorf("renewal window ends (%s) before it starts (%s)", v.SuggestedWindow.End.Format(time.RFC3339), v.SuggestedWindow.Start.Format(time.RFC3339))
	}
	return &RenewalInfo{
		Start:          v.SuggestedWindow.Start,
		End:            v.SuggestedWindow.End,
		ExplanationURL: v.ExplanationURL,
		RetryAfter:     RetryAfter(h.Get("Retry-After"), now),
	}, nil
}

// getJSON GETs u and decodes one JSON object of at most maxARIBody bytes.
func getJSON(ctx context.Context, hc *http.Client, u string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "pinset")
	res, err := hc.Do(req)
	if err != nil {
		return nil, redact.Error(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxARIBody+1))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", redact.URL(u), res.Status)
	}
	if len(b) > maxARIBody {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", redact.URL(u), maxARIBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%s: %w", redact.URL(u), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", redact.URL(u))
	}
	return res.Header, nil
}
