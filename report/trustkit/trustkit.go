// Package trustkit builds the pin-failure report pinset's client SDK sends:
// TrustKit's JSON shape (the one TrustKit iOS and TrustKit-Android POST),
// filled from an [enforce.Failure].
//
// It is the SDK's half of pin-failure reports. The service's half, which
// reads every shape real clients send (TrustKit, RFC 7469, pinset's own)
// into one normalised schema, is package report; the SDK does not link it.
// The wire format is described in docs/reports.md.
package trustkit

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/pin"
)

// MaxSize is the largest body pinset sends, in bytes; package report
// accepts bodies up to the same size.
const MaxSize = 64 << 10

// ErrTooLarge is returned by [Body.Marshal] for a body over MaxSize even
// with its chains cut to their leaves.
var ErrTooLarge = fmt.Errorf("report larger than %d bytes", MaxSize)

// PlatformGo is the app-platform pinset's own client sends.
const PlatformGo = "GO"

// TrustKit validation results.
const (
	ResultSuccess             = 0
	ResultNoMatchingPin       = 1
	ResultInvalidChain        = 2
	ResultInvalidParameters   = 3
	ResultUserDefinedAnchor   = 4
	ResultCouldNotComputeSPKI = 5
)

// Body is the JSON body TrustKit (iOS and Android) POSTs on a pin
// validation failure, and the body pinset's client SDK sends.
type Body struct {
	AppBundleID               string   `json:"app-bundle-id"`
	AppVersion                string   `json:"app-version"`
	AppPlatform               string   `json:"app-platform"` // IOS, TVOS, WATCHOS, MACOS, ANDROID; pinset sends GO
	AppPlatformVersion        string   `json:"app-platform-version,omitempty"`
	AppVendorID               string   `json:"app-vendor-id,omitempty"`
	TrustKitVersion           string   `json:"trustkit-version"`
	DateTime                  string   `json:"date-time"` // yyyy-MM-ddTHH:mm:ssZ
	Hostname                  string   `json:"hostname"`
	Port                      int      `json:"port"`
	NotedHostname             string   `json:"noted-hostname"`
	IncludeSubdomains         bool     `json:"include-subdomains"`
	EnforcePinning            bool     `json:"enforce-pinning"`
	ValidatedCertificateChain []string `json:"validated-certificate-chain"` // PEM strings, leaf first
	ServedCertificateChain    []string `json:"served-certificate-chain,omitempty"`
	KnownPins                 []string `json:"known-pins"` // pin-sha256="..."
	ValidationResult          int      `json:"validation-result"`
	KnownPinsExpirationDate   *string  `json:"known-pins-expiration-date"`
}

// App is what a report says about the app that sends it.
type App struct {
	BundleID        string // app-bundle-id
	Version         string // app-version
	Platform        string // app-platform; "" means PlatformGo
	PlatformVersion string // e.g. runtime.Version() or the OS version
	ClientVersion   string // trustkit-version, e.g. "pinset/1.0"
}

// FromFailure builds the body for f: the host and real port dialled, the
// matching policy's pattern as noted-hostname, the first verified chain as
// validated-certificate-chain (none: validation-result InvalidChain, else
// NoMatchingPin), the served chain, and f's time (now when f has none).
func FromFailure(f *enforce.Failure, app App, now time.Time) *Body {
	t := f.Time
	if t.IsZero() {
		t = now
	}
	b := &Body{
		AppBundleID:        app.BundleID,
		AppVersion:         app.Version,
		AppPlatform:        app.Platform,
		AppPlatformVersion: app.PlatformVersion,
		TrustKitVersion:    app.ClientVersion,
		DateTime:           t.UTC().Format("2006-01-02T15:04:05Z"),
		Hostname:           f.Host,
		Port:               f.Port,
		NotedHostname:      f.Policy.Pattern,
		// TrustKit's include-subdomains; a wildcard pattern covers
		// subdomains too.
		IncludeSubdomains:      f.Policy.IncludeSubdomains || strings.HasPrefix(f.Policy.Pattern, "*"),
		EnforcePinning:         !f.ReportOnly,
		ServedCertificateChain: pemChain(f.ServedChain),
		KnownPins:              make([]string, 0, len(f.Expected)),
		ValidationResult:       ResultNoMatchingPin,
	}
	if b.AppPlatform == "" {
		b.AppPlatform = PlatformGo
	}
	if b.NotedHostname == "" {
		b.NotedHostname = f.Host
	}
	if len(f.VerifiedChains) > 0 {
		b.ValidatedCertificateChain = pemChain(f.VerifiedChains[0])
	} else {
		b.ValidatedCertificateChain = pemChain(nil)
		b.ValidationResult = ResultInvalidChain
	}
	for _, p := range f.Expected {
		b.KnownPins = append(b.KnownPins, p.Format(pin.HPKP))
	}
	return b
}

// Marshal returns the JSON body to POST. It fails only if the body would
// be larger than MaxSize, in which case the chains are cut to their leaf
// first.
func (b *Body) Marshal() ([]byte, error) {
	out, err := json.Marshal(b)
	if err != nil || len(out) <= MaxSize {
		return out, err
	}
	c := *b
	if len(c.ValidatedCertificateChain) > 1 {
		c.ValidatedCertificateChain = c.ValidatedCertificateChain[:1]
	}
	if len(c.ServedCertificateChain) > 1 {
		c.ServedCertificateChain = c.ServedCertificateChain[:1]
	}
	out, err = json.Marshal(&c)
	if err == nil && len(out) > MaxSize {
		return nil, ErrTooLarge
	}
	return out, err
}

func pemChain(chain []*x509.Certificate) []string {
	out := make([]string, 0, len(chain))
	for _, c := range chain {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}
