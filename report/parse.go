package report

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// MaxSize is the largest report body accepted, in bytes. Real reports
// carry at most a few certificates and stay well under 16 KiB.
const MaxSize = 64 << 10

// Limits on the parts of one report.
const (
	MaxChain  = 16  // certificates per chain
	MaxPins   = 64  // known pins
	MaxFields = 64  // top-level keys, known or not
	MaxString = 256 // host names, versions, platform names
)

// Formats of report bodies, as recorded in [Report.Format].
const (
	FormatTrustKitIOS     = "trustkit-ios"     // TrustKit on iOS, tvOS, watchOS, macOS
	FormatTrustKitAndroid = "trustkit-android" // TrustKit-Android
	FormatHPKP            = "hpkp"             // RFC 7469 section 3
	FormatPinset          = "pinset"           // pinset's Go client: TrustKit's shape, app-platform "GO"
)

// PlatformGo is the app-platform pinset's own client sends.
const PlatformGo = "GO"

// ErrTooLarge is returned for bodies over MaxSize.
var ErrTooLarge = fmt.Errorf("report larger than %d bytes", MaxSize)

// ErrInvalid is wrapped by every error about a malformed report.
var ErrInvalid = errors.New("invalid report")

// Cert is one certificate of a reported chain with its pin.
type Cert struct {
	PEM      string    `json:"pem"`
	Pin      pin.Pin   `json:"pin"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

// Report is a pin-failure report in pinset's normalised schema, whatever
// shape it arrived in.
type Report struct {
	Format            string    `json:"format"`              // one of the Format constants
	App               string    `json:"app,omitempty"`       // pinset app id (from the URL or resolved by the service)
	BundleID          string    `json:"bundle_id,omitempty"` // app-bundle-id as the client sent it
	Host              string    `json:"host"`                // normalised hostname
	Port              int       `json:"port"`                // 0 when unknown (TrustKit always sends 0)
	NotedHost         string    `json:"noted_host,omitempty"`
	ExpectedPins      []pin.Pin `json:"expected_pins"`
	ServedChain       []Cert    `json:"served_chain,omitempty"`
	ValidatedChain    []Cert    `json:"validated_chain,omitempty"`
	Platform          string    `json:"platform,omitempty"` // IOS, ANDROID, GO, ... ; "" for HPKP
	PlatformVersion   string    `json:"platform_version,omitempty"`
	AppVersion        string    `json:"app_version,omitempty"`
	ClientVersion     string    `json:"client_version,omitempty"` // trustkit-version
	Time              time.Time `json:"time"`
	ValidationResult  int       `json:"validation_result"`
	Enforce           bool      `json:"enforce"`
	IncludeSubdomains bool      `json:"include_subdomains"`
	PinsExpiration    string    `json:"pins_expiration,omitempty"` // yyyy-MM-dd, or an RFC 3339 time for HPKP
	DedupKey          string    `json:"dedup_key"`
}

// PresentedPins returns the pins of the chain the server presented: the
// served chain when the client sent it, otherwise the validated chain.
func (r *Report) PresentedPins() []pin.Pin {
	chain := r.ServedChain
	if len(chain) == 0 {
		chain = r.ValidatedChain
	}
	out := make([]pin.Pin, 0, len(chain))
	for _, c := range chain {
		out = append(out, c.Pin)
	}
	return out
}

// Options tune Parse.
type Options struct {
	// App is the pinset app id the report was posted for (from the URL);
	// empty when the body alone must say.
	App string
	// Now is used when a report carries no time; defaults to time.Now.
	Now func() time.Time
}

// Parse reads one report body in any supported shape and returns it
// normalised. It is strict about what it uses: the body must be one JSON
// object of at most MaxSize bytes, valid UTF-8, each known key with the
// right JSON type, host names valid, pins 32-byte SHA-256 values and chain
// entries PEM certificates. Unknown keys are ignored and a repeated key
// keeps its last value, because real clients differ in what they add.
func Parse(body []byte, opts Options) (*Report, error) {
	if len(body) > MaxSize {
		return nil, ErrTooLarge
	}
	if !utf8.Valid(body) {
		return nil, invalid("body is not valid UTF-8")
	}
	fields, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	r := &Report{App: opts.App}
	_, hasPlatform := fields["app-platform"]
	_, hasBundle := fields["app-bundle-id"]
	if hasPlatform || hasBundle {
		err = r.parseTrustKit(fields)
	} else {
		err = r.parseHPKP(fields)
	}
	if err != nil {
		return nil, err
	}
	if r.Time.IsZero() {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		r.Time = now().UTC().Truncate(time.Second)
	}
	r.DedupKey = r.dedupKey()
	return r, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// decodeObject decodes one JSON object into its raw members, refusing
// anything else and trailing data.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, invalid("not a JSON object: %v", err)
	}
	if fields == nil {
		return nil, invalid("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("trailing data after the JSON object")
	}
	if len(fields) > MaxFields {
		return nil, invalid("%d keys is more than the limit of %d", len(fields), MaxFields)
	}
	return fields, nil
}

// field helpers: each decodes a present key with a type check; absent or
// null keys leave the zero value.

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func getString(f map[string]json.RawMessage, key string, max int) (string, error) {
	raw, ok := f[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("%s must be a string", key)
	}
	if len(s) > max {
		return "", invalid("%s is longer than %d bytes", key, max)
	}
	return s, nil
}

func getBool(f map[string]json.RawMessage, key string) (bool, error) {
	raw, ok := f[key]
	if !ok || isNull(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, invalid("%s must be true or false", key)
	}
	return b, nil
}

func getInt(f map[string]json.RawMessage, key string, lo, hi int) (int, error) {
	raw, ok := f[key]
	if !ok || isNull(raw) {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, invalid("%s must be an integer", key)
	}
	if n < lo || n > hi {
		return 0, invalid("%s %d is out of range %d..%d", key, n, lo, hi)
	}
	return n, nil
}

func getStrings(f map[string]json.RawMessage, key string, max int) ([]string, error) {
	raw, ok := f[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, invalid("%s must be an array of strings", key)
	}
	if len(ss) > max {
		return nil, invalid("%s has %d entries, more than the limit of %d", key, len(ss), max)
	}
	return ss, nil
}

var platformRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,15}$`)

func (r *Report) parseTrustKit(f map[string]json.RawMessage) error {
	var err error
	get := func(key string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = getString(f, key, MaxString)
		return s
	}
	r.BundleID = get("app-bundle-id")
	r.AppVersion = get("app-version")
	r.Platform = strings.ToUpper(get("app-platform"))
	r.PlatformVersion = get("app-platform-version")
	r.ClientVersion = get("trustkit-version")
	dt := get("date-time")
	host := get("hostname")
	noted := get("noted-hostname")
	exp := get("known-pins-expiration-date")
	if err != nil {
		return err
	}
	switch {
	case r.Platform == "":
		// Older TrustKit releases sent no platform; only TrustKit-Android
		// sends the served chain.
		r.Format = FormatTrustKitIOS
		if _, ok := f["served-certificate-chain"]; ok {
			r.Format = FormatTrustKitAndroid
		}
	case !platformRE.MatchString(r.Platform):
		return invalid("app-platform %q is not a platform name", r.Platform)
	case r.Platform == "ANDROID":
		r.Format = FormatTrustKitAndroid
	case r.Platform == PlatformGo:
		r.Format = FormatPinset
	default: // IOS, TVOS, WATCHOS, MACOS and whatever Apple adds next
		r.Format = FormatTrustKitIOS
	}
	if exp != "" {
		if _, perr := time.Parse("2006-01-02", exp); perr != nil {
			return invalid("known-pins-expiration-date %q is not yyyy-MM-dd", exp)
		}
		r.PinsExpiration = exp
	}
	return r.parseCommon(f, dt, host, noted)
}

func (r *Report) parseHPKP(f map[string]json.RawMessage) error {
	r.Format = FormatHPKP
	dt, err := getString(f, "date-time", MaxString)
	if err != nil {
		return err
	}
	host, err := getString(f, "hostname", MaxString)
	if err != nil {
		return err
	}
	noted, err := getString(f, "noted-hostname", MaxString)
	if err != nil {
		return err
	}
	exp, err := getString(f, "effective-expiration-date", MaxString)
	if err != nil {
		return err
	}
	if exp != "" {
		t, perr := parseTime(exp)
		if perr != nil {
			return invalid("effective-expiration-date %q: %v", exp, perr)
		}
		r.PinsExpiration = t.UTC().Format(time.RFC3339)
	}
	// A browser sends an HPKP report only when pin validation failed, and
	// RFC 7469 reports come from both enforced and report-only headers;
	// the body does not say which.
	r.ValidationResult = ResultNoMatchingPin
	return r.parseCommon(f, dt, host, noted)
}

// parseCommon reads the keys TrustKit and HPKP share.
func (r *Report) parseCommon(f map[string]json.RawMessage, dt, host, noted string) error {
	var err error
	if host == "" {
		return invalid("hostname is missing")
	}
	if r.Host, err = policy.NormalizeHost(host); err != nil {
		return invalid("hostname: %v", err)
	}
	if noted != "" {
		// TrustKit notes the configured domain; pinset's client notes
		// the policy pattern, which may be a wildcard.
		pat, perr := policy.ParsePattern(noted, false)
		if perr != nil {
			return invalid("noted-hostname: %v", perr)
		}
		r.NotedHost = pat.String()
	}
	if dt != "" {
		t, perr := parseTime(dt)
		if perr != nil {
			return invalid("date-time %q: %v", dt, perr)
		}
		r.Time = t.UTC()
	}
	if r.Port, err = getInt(f, "port", 0, 65535); err != nil {
		return err
	}
	if r.IncludeSubdomains, err = getBool(f, "include-subdomains"); err != nil {
		return err
	}
	if r.Format != FormatHPKP {
		if r.Enforce, err = getBool(f, "enforce-pinning"); err != nil {
			return err
		}
		if r.ValidationResult, err = getInt(f, "validation-result", 0, 1000); err != nil {
			return err
		}
	}
	pins, err := getStrings(f, "known-pins", MaxPins)
	if err != nil {
		return err
	}
	for _, s := range pins {
		p, perr := pin.Parse(s)
		if perr != nil {
			return invalid("known-pins: %v", perr)
		}
		if !pin.Contains(r.ExpectedPins, p) {
			r.ExpectedPins = append(r.ExpectedPins, p)
		}
	}
	if r.ServedChain, err = parseChain(f, "served-certificate-chain"); err != nil {
		return err
	}
	if r.ValidatedChain, err = parseChain(f, "validated-certificate-chain"); err != nil {
		return err
	}
	if len(r.ServedChain) == 0 && len(r.ValidatedChain) == 0 {
		return invalid("no certificate chain: a report needs served-certificate-chain or validated-certificate-chain")
	}
	return nil
}

func parseChain(f map[string]json.RawMessage, key string) ([]Cert, error) {
	pems, err := getStrings(f, key, MaxChain)
	if err != nil {
		return nil, err
	}
	var out []Cert
	for i, s := range pems {
		block, rest := pem.Decode([]byte(s))
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, invalid("%s[%d] is not a PEM certificate", key, i)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, invalid("%s[%d] holds more than one PEM block", key, i)
		}
		c, cerr := x509.ParseCertificate(block.Bytes)
		if cerr != nil {
			return nil, invalid("%s[%d]: %v", key, i, cerr)
		}
		out = append(out, Cert{
			PEM:      string(pem.EncodeToMemory(block)),
			Pin:      pin.FromCertificate(c),
			Subject:  c.Subject.String(),
			Issuer:   c.Issuer.String(),
			NotAfter: c.NotAfter.UTC(),
		})
	}
	return out, nil
}

// timeLayouts are the date-time spellings real clients send: TrustKit iOS
// writes UTC with a literal Z, TrustKit-Android formats with Java's
// SimpleDateFormat "Z" (+0000), browsers write RFC 3339 with fractions.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05",
}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() < 2000 || t.Year() > 9999 {
				return time.Time{}, errors.New("year out of range")
			}
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a date-time (want yyyy-MM-ddTHH:mm:ssZ or a numeric offset such as +0000)")
}

// dedupKey identifies "the same failure seen by the same client build on the
// same day", which is TrustKit's own once-a-day rule: app, host, port, noted
// host, expected and presented pins, validation result, platform, app
// version and the UTC day. Retries and repeats collapse into one stored row
// with a count.
func (r *Report) dedupKey() string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	w(r.Format)
	w(r.App)
	w(r.BundleID)
	w(r.Host)
	w(fmt.Sprint(r.Port))
	w(r.NotedHost)
	exp := slices.Clone(r.ExpectedPins)
	slices.SortFunc(exp, func(a, b pin.Pin) int { return bytes.Compare(a[:], b[:]) })
	for _, p := range exp {
		w("e" + p.String())
	}
	for _, c := range r.ServedChain {
		w("s" + c.Pin.String())
	}
	for _, c := range r.ValidatedChain {
		w("v" + c.Pin.String())
	}
	w(fmt.Sprint(r.ValidationResult))
	w(r.Platform)
	w(r.AppVersion)
	w(r.Time.UTC().Format("2006-01-02"))
	return hex.EncodeToString(h.Sum(nil))
}
