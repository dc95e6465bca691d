package report

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"time"

	"pinset.dev/pinset/pin"
)

// Failure is what a client knows about a pin failure, in the terms of
// package enforce's Failure (report does not import enforce, so that
// enforce may use report). The client SDK fills it and calls FromFailure.
type Failure struct {
	AppID             string // goes into app-bundle-id
	AppVersion        string
	PlatformVersion   string // e.g. runtime.Version() or the OS version
	ClientVersion     string // goes into trustkit-version, e.g. "pinset/1.0"
	Host              string // the host that was dialled
	Port              int
	NotedHost         string // the pattern of the policy that matched
	IncludeSubdomains bool
	Enforce           bool // false for report-only policies
	Expected          []pin.Pin
	VerifiedChain     []*x509.Certificate // the first verified chain, leaf first
	ServedChain       []*x509.Certificate // what the server sent
	ValidationResult  int                 // ResultNoMatchingPin unless the chain was invalid
	Time              time.Time
}

// FromFailure builds the TrustKit-shaped body pinset's own client sends
// (app-platform "GO", the real port, both chains).
func FromFailure(f Failure) *TrustKit {
	t := &TrustKit{
		AppBundleID:               f.AppID,
		AppVersion:                f.AppVersion,
		AppPlatform:               PlatformGo,
		AppPlatformVersion:        f.PlatformVersion,
		TrustKitVersion:           f.ClientVersion,
		DateTime:                  f.Time.UTC().Format("2006-01-02T15:04:05Z"),
		Hostname:                  f.Host,
		Port:                      f.Port,
		NotedHostname:             f.NotedHost,
		IncludeSubdomains:         f.IncludeSubdomains,
		EnforcePinning:            f.Enforce,
		ValidatedCertificateChain: pemChain(f.VerifiedChain),
		ServedCertificateChain:    pemChain(f.ServedChain),
		KnownPins:                 make([]string, 0, len(f.Expected)),
		ValidationResult:          f.ValidationResult,
	}
	if t.NotedHostname == "" {
		t.NotedHostname = f.Host
	}
	for _, p := range f.Expected {
		t.KnownPins = append(t.KnownPins, p.Format(pin.HPKP))
	}
	return t
}

// Marshal returns the JSON body to POST. It fails only if the report
// would be larger than MaxSize, in which case the chains are dropped to
// their leaf first.
func (t *TrustKit) Marshal() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil || len(b) <= MaxSize {
		return b, err
	}
	c := *t
	if len(c.ValidatedCertificateChain) > 1 {
		c.ValidatedCertificateChain = c.ValidatedCertificateChain[:1]
	}
	if len(c.ServedCertificateChain) > 1 {
		c.ServedCertificateChain = c.ServedCertificateChain[:1]
	}
	b, err = json.Marshal(&c)
	if err == nil && len(b) > MaxSize {
		return nil, ErrTooLarge
	}
	return b, err
}

func pemChain(chain []*x509.Certificate) []string {
	out := make([]string, 0, len(chain))
	for _, c := range chain {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}
