package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Limits of one refresh. A response larger than the byte cap is aborted as
// soon as the cap is passed; a refresh that takes longer than its time limit
// (a trickling server) is cut off, and the trusted state stays as it was.
const (
	// DefaultMaxDocumentBytes caps one fetched root or manifest.
	DefaultMaxDocumentBytes = 1 << 20
	// DefaultFetchTimeout bounds one whole refresh (every request in it).
	DefaultFetchTimeout = 30 * time.Second
)

// Errors of the fetch step. They are wrapped with the URL and reported in
// rejected events; the trusted state never changes on any of them.
var (
	ErrTooLarge       = errors.New("response larger than the byte cap")
	ErrBadStatus      = errors.New("unexpected HTTP status")
	ErrBadContentType = errors.New("response is an HTML page, not a signed document")
)

// statusError is an unexpected HTTP status (ErrBadStatus).
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("%v %d", ErrBadStatus, e.code) }
func (e *statusError) Unwrap() error { return ErrBadStatus }

// transientFetchError reports whether a refresh failed only in a way that
// a fetch made again may not: the connection (no answer, a reset, a
// timeout, a body cut short) or a 5xx or 429 status, and no document was
// refused by trust. A pin service whose certificate does not verify (an
// interceptor, a captive portal) is not transient. It decides which heal
// refreshes are retried (Client.healRefresh, Schedule.HealRetry).
func transientFetchError(err error) bool {
	var te *trustError
	var ce *tls.CertificateVerificationError
	if err == nil || errors.As(err, &te) || errors.As(err, &ce) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// fetchResult is one fetched document.
type fetchResult struct {
	Body        []byte
	ETag        string // as received; see checkETag
	ETags       int    // how many ETag header lines there were
	NotModified bool   // 304: the ETag still names the current document
	NotFound    bool   // 404: for roots, the end of the chain
	LogProof    string // the Pinset-Log-Proof header (logproof.go)
}

// fetcher gets documents from the pin service with caps on size and time.
type fetcher struct {
	hc       *http.Client
	base     *url.URL
	app      string
	maxBytes int64
}

func (f *fetcher) rootURL(n int64) string {
	return f.base.JoinPath("v1", "apps", f.app, "roots", strconv.FormatInt(n, 10)+".json").String()
}

func (f *fetcher) manifestURL() string {
	return f.base.JoinPath("v1", "apps", f.app, "pins.json").String()
}

// get fetches u. A 404 is returned as NotFound, a 304 (when etag was sent)
// as NotModified; any other non-200 status, a body over the cap or a
// non-JSON content type is an error.
//
// hdr are extra request header names and values (the log size).
func (f *fetcher) get(ctx context.Context, u, etag string, hdr ...string) (fetchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fetchResult{}, err
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	setTelemetry(ctx, req)
	resp, err := f.hc.Do(req)
	if err != nil {
		return fetchResult{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return fetchResult{NotModified: true, ETag: etag}, nil
	case resp.StatusCode == http.StatusNotFound:
		return fetchResult{NotFound: true}, nil
	case resp.StatusCode != http.StatusOK:
		return fetchResult{}, fmt.Errorf("GET %s: %w", u, &statusError{resp.StatusCode})
	}
	// Documents are signed, so the type is only a hint; but an HTML page
	// (a captive portal, an error page) is worth naming as such.
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return fetchResult{}, fmt.Errorf("GET %s: %w (Content-Type %q: a captive portal or an error page?)", u, ErrBadContentType, ct)
		}
	}
	if resp.ContentLength > f.maxBytes {
		return fetchResult{}, fmt.Errorf("GET %s: %w of %d bytes (Content-Length %d)", u, ErrTooLarge, f.maxBytes, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return fetchResult{}, fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if int64(len(body)) > f.maxBytes {
		return fetchResult{}, fmt.Errorf("GET %s: %w of %d bytes", u, ErrTooLarge, f.maxBytes)
	}
	return fetchResult{Body: body, ETag: resp.Header.Get("ETag"), ETags: len(resp.Header.Values("ETag")), LogProof: resp.Header.Get(headerLogProof)}, nil
}
