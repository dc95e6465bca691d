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
	"unicode"
	"unicode/utf8"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report/trustkit"
)

// MaxSize is the largest report body accepted, in bytes: the size
// pinset's client keeps to (trustkit.MaxSize). Real reports carry at most a
// few certificates and stay well under 16 KiB.
const MaxSize = trustkit.MaxSize

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
const PlatformGo = trustkit.PlatformGo

// Values of [Report.TimeSource].
const (
	TimeClient   = "client"   // the report's date-time, which names its zone
	TimeReceived = "received" // the service's clock when the report arrived
)

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
// shape it arrived in (not a check run, which is check.Report, nor an app
// scan, which is scan.Report).
type Report struct {
	Format          string    `json:"format"`              // one of the Format constants
	App             string    `json:"app,omitempty"`       // pinset app id (from the URL or resolved by the service)
	BundleID        string    `json:"bundle_id,omitempty"` // app-bundle-id as the client sent it
	Host            string    `json:"host"`                // normalised hostname
	Port            int       `json:"port"`                // 0 when unknown (TrustKit always sends 0)
	NotedHost       string    `json:"noted_host,omitempty"`
	ExpectedPins    []pin.Pin `json:"expected_pins"`
	ServedChain     []Cert    `json:"served_chain,omitempty"`
	ValidatedChain  []Cert    `json:"validated_chain,omitempty"`
	Platform        string    `json:"platform,omitempty"` // IOS, ANDROID, GO, ... ; "" for HPKP
	PlatformVersion string    `json:"platform_version,omitempty"`
	AppVersion      string    `json:"app_version,omitempty"`
	ClientVersion   string    `json:"client_version,omitempty"` // trustkit-version
	// Time is the time windows and deduplication use: the client's
	// date-time when it names its zone (TrustKit iOS, RFC 7469, pinset),
	// otherwise the time the service received the report (TimeSource).
	Time time.Time `json:"time"`
	// TimeSource says where Time comes from: "client" or "received".
	TimeSource string `json:"time_source"`
	// ClaimedLocalTime is TrustKit-Android's date-time as the device wrote
	// it (yyyy-MM-ddTHH:mm:ss, digits made ASCII): local time in a zone
	// the report does not name.
	ClaimedLocalTime string `json:"claimed_local_time,omitempty"`
	// HostNote says why Host is not in canonical form: the client sent a
	// name that policy.NormalizeHost refuses but that its pins still
	// covered (policy.FoldHost).
	HostNote string `json:"host_note,omitempty"`
	// TimeNote explains why the client's date-time was not used, when it
	// was present but unreadable.
	TimeNote string `json:"time_note,omitempty"`
	// IgnoredPins counts known pins of a hash algorithm other than
	// SHA-256 (pin-sha1="..."), which RFC 7469 says to ignore.
	IgnoredPins       int    `json:"ignored_pins,omitempty"`
	ValidationResult  int    `json:"validation_result"`
	Enforce           bool   `json:"enforce"`
	IncludeSubdomains bool   `json:"include_subdomains"`
	PinsExpiration    string `json:"pins_expiration,omitempty"` // yyyy-MM-dd, or an RFC 3339 time for HPKP
	DedupKey          string `json:"dedup_key"`
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
	// Chains, when set, caches parsed certificate chains (a service
	// receiving many reports of the same interception parses its chain
	// once).
	Chains *ChainCache
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
		err = r.parseTrustKit(fields, opts.Chains)
	} else {
		err = r.parseHPKP(fields, opts.Chains)
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
		r.TimeSource = TimeReceived
	}
	r.DedupKey = r.dedupKey()
	return r, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// decodeObject decodes one JSON object into its raw members, refusing
// anything else and trailing data. A valid body (json.Valid: one scan) is
// split in one more pass over its bytes, its members' values slices of
// body; an invalid one goes through decodeObjectSlow, whose error says
// what is wrong. FuzzDecodeObject holds the two to the same answers.
// body is valid UTF-8 (Parse checked).
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !json.Valid(body) {
		return decodeObjectSlow(body)
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, invalid("not a JSON object")
	}
	fields := map[string]json.RawMessage{}
	i = skipSpace(body, i+1)
	for body[i] != '}' {
		end := stringEnd(body, i)
		key := string(body[i+1 : end-1])
		if bytes.IndexByte(body[i:end], '\\') >= 0 {
			if err := json.Unmarshal(body[i:end], &key); err != nil {
				return nil, invalid("not a JSON object: %v", err)
			}
		}
		i = skipSpace(body, skipSpace(body, end)+1) // past the colon
		vend := valueEnd(body, i)
		fields[key] = body[i:vend:vend]
		i = skipSpace(body, vend)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	if len(fields) > MaxFields {
		return nil, invalid("%d keys is more than the limit of %d", len(fields), MaxFields)
	}
	return fields, nil
}

// The helpers of decodeObject walk JSON that json.Valid accepted.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string literal starting at i.
func stringEnd(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the index after the value starting at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++
	}
	return i
}

// decodeObjectSlow is decodeObject through json.Decoder.
func decodeObjectSlow(body []byte) (map[string]json.RawMessage, error) {
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

// stringMembers reads string members of a body (getString, at most
// MaxString bytes), keeping the first error: after it, every read is "".
type stringMembers struct {
	f   map[string]json.RawMessage
	err error
}

func (m *stringMembers) get(key string) string {
	if m.err != nil {
		return ""
	}
	var s string
	s, m.err = getString(m.f, key, MaxString)
	return s
}

func (r *Report) parseTrustKit(f map[string]json.RawMessage, cache *ChainCache) error {
	m := stringMembers{f: f}
	get := m.get
	r.BundleID = get("app-bundle-id")
	r.AppVersion = get("app-version")
	r.Platform = strings.ToUpper(get("app-platform"))
	r.PlatformVersion = get("app-platform-version")
	r.ClientVersion = get("trustkit-version")
	dt := get("date-time")
	host := get("hostname")
	noted := get("noted-hostname")
	exp := get("known-pins-expiration-date")
	if m.err != nil {
		return m.err
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
	return r.parseCommon(f, dt, host, noted, cache)
}

func (r *Report) parseHPKP(f map[string]json.RawMessage, cache *ChainCache) error {
	r.Format = FormatHPKP
	m := stringMembers{f: f}
	dt := m.get("date-time")
	host := m.get("hostname")
	noted := m.get("noted-hostname")
	exp := m.get("effective-expiration-date")
	if m.err != nil {
		return m.err
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
	r.ValidationResult = trustkit.ResultNoMatchingPin
	return r.parseCommon(f, dt, host, noted, cache)
}

// parseCommon reads the keys TrustKit and HPKP share.
func (r *Report) parseCommon(f map[string]json.RawMessage, dt, host, noted string, cache *ChainCache) error {
	var err error
	if host == "" {
		return invalid("hostname is missing")
	}
	if r.Host, err = policy.NormalizeHost(host); err != nil {
		// A name the normaliser refuses (invalid punycode, a label over 63
		// bytes) is still pinned by its folded form (policy.Set.Match), so
		// its failures are exactly the interceptions worth reporting: keep
		// the report under that form when it is a plain DNS name, and say so.
		folded := policy.FoldHost(host)
		if !plainDNSName(folded) {
			return invalid("hostname: %v", err)
		}
		r.Host = folded
		r.HostNote = fmt.Sprintf("host name kept as sent (lower-cased): %v", err)
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
	r.readTime(dt)
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
		if otherPinAlgorithm(s) {
			// RFC 7469 section 2.1.1: directives naming a hash
			// algorithm other than sha256 are ignored, not an error.
			r.IgnoredPins++
			continue
		}
		p, perr := pin.Parse(s)
		if perr != nil {
			return invalid("known-pins: %v", perr)
		}
		if !pin.Contains(r.ExpectedPins, p) {
			r.ExpectedPins = append(r.ExpectedPins, p)
		}
	}
	if r.ServedChain, err = parseChain(f, "served-certificate-chain", cache); err != nil {
		return err
	}
	if r.ValidatedChain, err = parseChain(f, "validated-certificate-chain", cache); err != nil {
		return err
	}
	if len(r.ServedChain) == 0 && len(r.ValidatedChain) == 0 {
		return invalid("no certificate chain: a report needs served-certificate-chain or validated-certificate-chain")
	}
	return nil
}

// parseChain reads one certificate chain; with a cache, the same JSON bytes
// are parsed once.
func parseChain(f map[string]json.RawMessage, key string, cache *ChainCache) ([]Cert, error) {
	raw, ok := f[key]
	if !ok || cache == nil || isNull(raw) {
		return parseChainUncached(f, key)
	}
	k := sha256.Sum256(raw)
	if certs, ok := cache.get(k); ok {
		return certs, nil
	}
	certs, err := parseChainUncached(f, key)
	if err == nil {
		cache.put(k, len(raw), certs)
	}
	return certs, err
}

func parseChainUncached(f map[string]json.RawMessage, key string) ([]Cert, error) {
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

// otherPinAlgorithm reports whether a known pin is an RFC 7469 pin
// directive for another hash algorithm than SHA-256 (pin-sha1="...").
func otherPinAlgorithm(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	alg, _, ok := strings.Cut(s, "=")
	return ok && strings.HasPrefix(alg, "pin-") && alg != "pin-sha256"
}

// readTime sets the report's time from its date-time, dt. It never fails:
// a report is not refused for its timestamp alone. When the date-time is
// absent, unreadable or names no zone that can be trusted, Time stays zero
// and Parse uses the receive time.
//
// TrustKit-Android (PinningFailureReport.toJson, trustkit/src/main/java/
// com/datatheorem/android/trustkit/reporting/PinningFailureReport.java
// line 79) writes android.text.format.DateFormat.format(
// "yyyy-MM-dd'T'HH:mm:ssZ", date). That DateFormat knows 'z' but not 'Z',
// so the Z is copied literally after the device's local time, and its
// zeroPad formats numbers with String.format(Locale.getDefault(), ...), so
// the digits are the device locale's (Persian, Arabic-Indic). For ANDROID
// the zone is therefore unknown: the local time is kept as
// ClaimedLocalTime and the receive time is used.
func (r *Report) readTime(dt string) {
	if dt == "" {
		return
	}
	s := asciiDigits(dt)
	if r.Platform == "ANDROID" {
		if lt, err := parseLocalTime(s); err == nil {
			r.ClaimedLocalTime = lt.Format("2006-01-02T15:04:05")
		} else {
			r.TimeNote = "date-time unreadable (" + err.Error() + "); the receive time is used"
		}
		return
	}
	t, err := parseTime(s)
	if err != nil {
		r.TimeNote = "date-time unreadable (" + err.Error() + "); the receive time is used"
		return
	}
	r.Time, r.TimeSource = t.UTC(), TimeClient
}

// asciiDigits replaces every Unicode decimal digit (category Nd) by its
// ASCII digit. Unicode encodes each decimal digit set as a run of ten
// consecutive code points from zero to nine, so the value is the offset
// from the start of the run, modulo ten (a few runs are several sets
// back to back, such as the mathematical digits).
func asciiDigits(s string) string {
	if !strings.ContainsFunc(s, func(c rune) bool { return c > unicode.MaxASCII && unicode.IsDigit(c) }) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c > unicode.MaxASCII && unicode.IsDigit(c) {
			start := c
			for unicode.IsDigit(start-1) && c-start < 100 {
				start--
			}
			c = '0' + (c-start)%10
		}
		b.WriteRune(c)
	}
	return b.String()
}

// timeLayouts are the date-time spellings real clients send: TrustKit iOS
// writes UTC with a literal Z, browsers write RFC 3339 with fractions,
// older senders a numeric offset such as +0000. RFC 3339 section 5.6 allows
// lower-case t and z; they are upper-cased before parsing.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05",
}

func parseTime(s string) (time.Time, error) {
	s = upperTZ(s)
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

// parseLocalTime reads yyyy-MM-ddTHH:mm:ss and ignores whatever zone
// designator follows (Z, z, +hhmm, +hh:mm).
func parseLocalTime(s string) (time.Time, error) {
	s = upperTZ(s)
	if len(s) < 19 {
		return time.Time{}, errors.New("shorter than yyyy-MM-ddTHH:mm:ss")
	}
	rest := s[19:]
	switch {
	case rest == "", rest == "Z":
	case rest[0] == '+' || rest[0] == '-':
		if _, err := time.Parse("-0700", rest); err != nil {
			if _, err := time.Parse("-07:00", rest); err != nil {
				return time.Time{}, errors.New("not a zone offset after the time")
			}
		}
	default:
		return time.Time{}, errors.New("unexpected text after the time")
	}
	t, err := time.Parse("2006-01-02T15:04:05", s[:19])
	if err != nil {
		return time.Time{}, errors.New("not yyyy-MM-ddTHH:mm:ss")
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, errors.New("year out of range")
	}
	return t, nil
}

// upperTZ upper-cases the date-time separator t and a final zone z.
func upperTZ(s string) string {
	if len(s) > 10 && s[10] == 't' {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	return s
}

// dedupKey identifies "the same failure seen by the same client build on the
// same day", which is TrustKit's own once-a-day rule: app, host, port, noted
// host, expected and presented pins, validation result, platform, app
// version and the UTC day of Time (the receive day when the client's zone is
// unknown). Retries and repeats collapse into one stored row with a count.
func (r *Report) dedupKey() string { return r.key(true) }

// Fingerprint identifies the failure regardless of the day: the dedup key
// without its day. Stored reports with the same fingerprint are repeats of
// one failure on different days; the store gives them up first when a
// quota is full.
func (r *Report) Fingerprint() string { return r.key(false) }

func (r *Report) key(day bool) string {
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
	if day {
		w(r.Time.UTC().Format("2006-01-02"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// plainDNSName reports whether name, already folded, is made only of what a
// DNS name in a certificate may hold (lower-case letters, digits, '-', '_'
// and '.'), at most 253 bytes, with no empty label.
func plainDNSName(name string) bool {
	if name == "" || len(name) > 253 || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
