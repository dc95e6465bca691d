// Package report reads and writes pin-failure reports.
//
// Real clients send three shapes: TrustKit iOS and TrustKit Android JSON and
// RFC 7469 (HPKP) JSON; pinset's own client sends TrustKit's shape too. All
// of them are normalised into [Report]. The wire formats are described in
// docs/reports.md.
package report

// TrustKit is the JSON body TrustKit (iOS and Android) POSTs on a pin
// validation failure, and the body pinset's client SDK sends.
type TrustKit struct {
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

// TrustKit validation results.
const (
	ResultSuccess             = 0
	ResultNoMatchingPin       = 1
	ResultInvalidChain        = 2
	ResultInvalidParameters   = 3
	ResultUserDefinedAnchor   = 4
	ResultCouldNotComputeSPKI = 5
)
