package mobile

import (
	"encoding/json"
	"fmt"

	"pinset.dev/pinset/export"
)

// Pins for the platform's own pinners.
//
// An app whose traffic goes through OkHttp's CertificatePinner or a
// TrustKit instance rather than through CheckServerTrusted asks for the
// pins in force in that pinner's terms. Both are rendered by package
// export, with the same rules and warnings as `pinset export okhttp` and
// `pinset export trustkit-ios`; the OkHttp JSON is exactly what
// `pinset export okhttp --json` prints.
//
// When the pins change, the client raises an "updated" event whose
// ManifestVersion is the new version (this is the pins-changed signal; it
// is also raised at start and when only the root changed, so compare the
// version with the one the pinner was built from). The app then rebuilds
// its pinner: mobile/android's PinsetOkHttp makes a new OkHttpClient with
// a new CertificatePinner and evicts the old connection pool, so no
// connection made under the old pins is reused.

// OkHttpPinsJSON returns the pins in force as `pinset export okhttp --json`
// prints them for OkHttp major version okhttpVersion (3: OkHttp 3.2.0 to
// 4.2.x, which have no "**." patterns; 4: 4.3.0 and later): the
// CertificatePinner.Builder.add(pattern, "sha256/...") entries, the
// minimum OkHttp version, the warnings (report-only hosts left out,
// subdomains OkHttp 3 cannot reach, OkHttp accepting the pins of every
// matching pattern) and manifest_version. OkHttp has no report-only mode
// and sends no reports: CheckServerTrusted, through PinsetTrustManager,
// keeps both.
func (c *Client) OkHttpPinsJSON(okhttpVersion int) (string, error) {
	s := c.c.State()
	doc, err := export.OkHttp(export.Input{
		Policies:      s.Policies,
		OkHttpVersion: okhttpVersion,
		Source:        fmt.Sprintf("the pins in force (app %s, manifest version %d)", s.AppID, s.ManifestVersion),
	})
	if err != nil {
		return "", fmt.Errorf("pinset: OkHttp pins of manifest v%d: %w", s.ManifestVersion, err)
	}
	doc.ManifestVersion = s.ManifestVersion
	b, err := doc.JSON()
	return string(b), err
}

// TrustKitConfigJSON returns the pins in force for TrustKit (iOS):
//
//	{"manifest_version": 7, "configuration": {...}, "warnings": [{"code", "pattern", "message"}]}
//
// configuration is TrustKit's configuration dictionary (the trustkit-ios
// format's rules, package export); warnings say where TrustKit will behave
// differently from pinset (a one-label wildcard widened, a name TrustKit
// refuses left out). Network delegates are not swizzled: build an
// instance with TrustKit(configuration:), and a new one when the manifest
// version changes (TrustKit's shared instance is configured once per
// process and cannot follow new pins). No TSKExpirationDate is written:
// the pins stay enforced after the manifest's expiry, as pinset's own
// check keeps them.
func (c *Client) TrustKitConfigJSON() (string, error) {
	s := c.c.State()
	cfg, warns, err := export.TrustKitJSON(export.Input{Policies: s.Policies})
	if err != nil {
		return "", fmt.Errorf("pinset: TrustKit configuration of manifest v%d: %w", s.ManifestVersion, err)
	}
	doc := struct {
		ManifestVersion int64                `json:"manifest_version"`
		Configuration   json.RawMessage      `json:"configuration"`
		Warnings        []export.WarningJSON `json:"warnings"`
	}{s.ManifestVersion, cfg, []export.WarningJSON{}}
	for _, w := range warns {
		doc.Warnings = append(doc.Warnings, export.WarningJSON{Code: w.Code, Pattern: w.Pattern, Message: w.Message})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return string(b), err
}
