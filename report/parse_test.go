package report

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report/trustkit"
)

var fixedNow = func() time.Time { return time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC) }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reports", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chainPins recomputes the pins of a PEM chain through package pin, so the
// test does not trust Parse's own arithmetic.
func chainPins(t *testing.T, pems []string) []pin.Pin {
	t.Helper()
	var out []pin.Pin
	for _, s := range pems {
		items, err := pin.ParseItems([]byte(s), "chain")
		if err != nil || len(items) != 1 {
			t.Fatalf("chain entry: %v", err)
		}
		out = append(out, items[0].Pin)
	}
	return out
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		file       string
		format     string
		platform   string
		appVersion string
		bundle     string
		port       int
		noted      string
		time       time.Time
		enforce    bool
		inclSub    bool
		served     bool
		expiration string
	}{
		{"trustkit-ios.json", FormatTrustKitIOS, "IOS", "4.2.1", "com.example.shop", 0, "example.com",
			time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC), true, true, false, "2026-12-31"},
		// TrustKit-Android's date-time names no zone: the receive time.
		{"trustkit-android.json", FormatTrustKitAndroid, "ANDROID", "4.2.0", "com.example.shop", 0, "api.example.com",
			fixedNow(), true, false, true, ""},
		{"hpkp.json", FormatHPKP, "", "", "", 443, "api.example.com",
			time.Date(2026, 3, 14, 9, 28, 10, 0, time.UTC), false, false, true, "2026-04-13T09:28:10Z"},
		{"pinset-go.json", FormatPinset, "GO", "1.0.0", "shop", 8443, "api.example.com",
			time.Date(2026, 3, 14, 9, 29, 0, 0, time.UTC), false, false, true, ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body := readFixture(t, c.file)
			r, err := Parse(body, Options{App: "shop", Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			var raw trustkit.Body
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			if r.Format != c.format || r.Platform != c.platform || r.AppVersion != c.appVersion || r.BundleID != c.bundle {
				t.Errorf("format/platform/version/bundle = %q %q %q %q", r.Format, r.Platform, r.AppVersion, r.BundleID)
			}
			if r.App != "shop" || r.Host != "api.example.com" || r.Port != c.port || r.NotedHost != c.noted {
				t.Errorf("app/host/port/noted = %q %q %d %q", r.App, r.Host, r.Port, r.NotedHost)
			}
			if !r.Time.Equal(c.time) {
				t.Errorf("time = %v, want %v", r.Time, c.time)
			}
			if r.Enforce != c.enforce || r.IncludeSubdomains != c.inclSub || r.PinsExpiration != c.expiration {
				t.Errorf("enforce/include-subdomains/expiration = %v %v %q", r.Enforce, r.IncludeSubdomains, r.PinsExpiration)
			}
			if r.ValidationResult != trustkit.ResultNoMatchingPin {
				t.Errorf("validation result = %d", r.ValidationResult)
			}
			if len(r.ExpectedPins) != 2 {
				t.Fatalf("expected pins = %v", r.ExpectedPins)
			}
			for i, s := range raw.KnownPins {
				if r.ExpectedPins[i].Format(pin.HPKP) != s {
					t.Errorf("expected pin %d = %s, body says %s", i, r.ExpectedPins[i].Format(pin.HPKP), s)
				}
			}
			want := chainPins(t, raw.ValidatedCertificateChain)
			got := r.PresentedPins()
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("presented pins = %v, want %v", got, want)
			}
			if (len(r.ServedChain) > 0) != c.served {
				t.Errorf("served chain present = %v", len(r.ServedChain) > 0)
			}
			if r.ValidatedChain[0].Subject != "CN=api.example.com" || r.ValidatedChain[1].Subject != "CN=Fixture Interception CA" {
				t.Errorf("subjects = %q %q", r.ValidatedChain[0].Subject, r.ValidatedChain[1].Subject)
			}
			if len(r.DedupKey) != 64 {
				t.Errorf("dedup key %q", r.DedupKey)
			}
		})
	}
}

func TestDedupKey(t *testing.T) {
	body := readFixture(t, "trustkit-ios.json")
	a, err := Parse(body, Options{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	// Same failure, later the same day, keys in another order: same key.
	var m map[string]any
	json.Unmarshal(body, &m)
	m["date-time"] = "2026-03-14T23:59:59Z"
	m["app-vendor-id"] = "another-install"
	b2, _ := json.Marshal(m)
	b, err := Parse(b2, Options{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if a.DedupKey != b.DedupKey {
		t.Error("same failure on the same day got different dedup keys")
	}
	// Next day, other app version, other app: different keys.
	for _, mut := range []func(m map[string]any){
		func(m map[string]any) { m["date-time"] = "2026-03-15T00:00:00Z" },
		func(m map[string]any) { m["app-version"] = "4.2.2" },
		func(m map[string]any) { m["hostname"] = "cdn.example.com" },
		func(m map[string]any) { m["known-pins"] = []string{m["known-pins"].([]any)[0].(string)} },
	} {
		var m2 map[string]any
		json.Unmarshal(body, &m2)
		mut(m2)
		b3, _ := json.Marshal(m2)
		c, err := Parse(b3, Options{App: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		if c.DedupKey == a.DedupKey {
			t.Errorf("mutation kept the dedup key: %s", b3[:80])
		}
	}
	c, _ := Parse(body, Options{App: "other"})
	if c.DedupKey == a.DedupKey {
		t.Error("other app kept the dedup key")
	}
}

func TestTolerance(t *testing.T) {
	body := readFixture(t, "trustkit-android.json")
	// Unknown keys and a repeated key (last wins) are accepted.
	s := strings.Replace(string(body), "{", `{"x-extra": {"nested": [1,2]}, "app-version": "0.0.1",`, 1)
	r, err := Parse([]byte(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.AppVersion != "4.2.0" {
		t.Errorf("repeated key: app version %q, want the last value", r.AppVersion)
	}
	// No date-time: the clock is used.
	var m map[string]any
	json.Unmarshal(body, &m)
	delete(m, "date-time")
	b, _ := json.Marshal(m)
	r, err = Parse(b, Options{Now: fixedNow})
	if err != nil || !r.Time.Equal(fixedNow()) {
		t.Errorf("no date-time: %v %v", r, err)
	}
}

func TestRejects(t *testing.T) {
	good := readFixture(t, "trustkit-ios.json")
	set := func(key string, v any) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string]struct {
		body []byte
		msg  string
	}{
		"empty":                   {[]byte(""), "not a JSON object"},
		"array":                   {[]byte("[1]"), "not a JSON object"},
		"null":                    {[]byte("null"), "not a JSON object"},
		"trailing":                {append(bytes.Clone(good), []byte(" {}")...), "trailing data"},
		"bad utf8":                {[]byte("{\"hostname\":\"a\xff\"}"), "UTF-8"},
		"port type":               {set("port", "443"), "port must be an integer"},
		"port range":              {set("port", 70000), "out of range"},
		"bool type":               {set("enforce-pinning", "YES"), "enforce-pinning must be true or false"},
		"result type":             {set("validation-result", 1.5), "validation-result must be an integer"},
		"no host":                 {set("hostname", nil), "hostname is missing"},
		"bad host":                {set("hostname", "a..b"), "hostname"},
		"bad host bytes":          {set("hostname", "xn--zz.exa mple.com"), "hostname"},
		"pins type":               {set("known-pins", "x"), "known-pins must be an array"},
		"bad pin":                 {set("known-pins", []string{`pin-sha256="AAAA"`}), "known-pins"},
		"sha1 pin":                {set("known-pins", []string{"sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA="}), "sha1"},
		"chain not pem":           {set("validated-certificate-chain", []string{"hello"}), "not a PEM certificate"},
		"chain garbage":           {set("validated-certificate-chain", []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}), "validated-certificate-chain[0]"},
		"no chain":                {set("validated-certificate-chain", nil), "no certificate chain"},
		"bad expiration":          {set("known-pins-expiration-date", "2026/12/31"), "yyyy-MM-dd"},
		"bad platform":            {set("app-platform", "i os"), "not a platform name"},
		"long version":            {set("app-version", strings.Repeat("9", 300)), "longer than"},
		"too many pins":           {set("known-pins", make([]string, 65)), "limit"},
		"too many chain":          {set("validated-certificate-chain", make([]string, 17)), "limit"},
		"hpkp bad expires":        {[]byte(`{"hostname":"a.example.com","effective-expiration-date":"soon","validated-certificate-chain":[]}`), "effective-expiration-date"},
		"hpkp noted not a string": {[]byte(`{"hostname":"a.example.com","noted-hostname":7,"effective-expiration-date":1,"validated-certificate-chain":[]}`), "noted-hostname must be a string"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.body, Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.msg)) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
	big := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxSize)...)
	if _, err := Parse(big, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

// TestTimes checks how date-time becomes the report's time. No report is
// refused for its timestamp alone.
func TestTimes(t *testing.T) {
	received := fixedNow()
	const (
		// PinningFailureReport.toJson, TrustKit-Android
		// trustkit/src/main/java/com/datatheorem/android/trustkit/reporting/PinningFailureReport.java:79:
		// DateFormat.format("yyyy-MM-dd'T'HH:mm:ssZ", dateTime).
		tkAndroid = "PinningFailureReport.java:79"
		// AOSP frameworks/base core/java/android/text/format/DateFormat.java,
		// format(CharSequence, Calendar): the switch replaces 'z' (time
		// zone) but has no case for 'Z', which is copied literally.
		aospZ = "DateFormat.java format(): no case 'Z'"
		// Same file, zeroPad: String.format(Locale.getDefault(), "%0" + n + "d", v):
		// the locale's digits.
		aospDigits = "DateFormat.java zeroPad(): Locale.getDefault() digits"
		// RFC 3339 section 5.6, NOTE: "T" and "Z" may alternatively be
		// lower case.
		rfc3339 = "RFC 3339 5.6"
	)
	cases := []struct {
		source, platform, dt string
		time                 time.Time
		timeSource, local    string
		note                 bool
	}{
		{tkAndroid + "; " + aospZ + " (Tokyo device, local time then a literal Z)", "ANDROID", "2026-03-14T18:27:01Z",
			received, TimeReceived, "2026-03-14T18:27:01", false},
		{aospDigits + " (fa-IR: Extended Arabic-Indic digits)", "ANDROID", "۲۰۲۶-۰۳-۱۴T۱۸:۲۷:۰۱Z",
			received, TimeReceived, "2026-03-14T18:27:01", false},
		{aospDigits + " (ar-EG: Arabic-Indic digits)", "ANDROID", "٢٠٢٦-٠٣-١٤T١٨:٢٧:٠١Z",
			received, TimeReceived, "2026-03-14T18:27:01", false},
		{aospDigits + " (hi-IN with native digits: Devanagari)", "ANDROID", "२०२६-०३-१४T१८:२७:०१Z",
			received, TimeReceived, "2026-03-14T18:27:01", false},
		{"an Android sender with a numeric offset: still a zone we do not trust", "ANDROID", "2026-03-14T18:27:01+0900",
			received, TimeReceived, "2026-03-14T18:27:01", false},
		{"unreadable Android date-time: accepted, receive time, noted", "ANDROID", "yesterday",
			received, TimeReceived, "", true},
		{"TrustKit iOS: UTC with Z", "IOS", "2026-03-14T09:26:53Z",
			time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC), TimeClient, "", false},
		{rfc3339 + " lower-case t and z", "IOS", "2026-03-14t09:26:53z",
			time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC), TimeClient, "", false},
		{rfc3339 + " lower-case t with an offset", "GO", "2026-03-14t18:26:53+09:00",
			time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC), TimeClient, "", false},
		{"unreadable iOS date-time: accepted, receive time, noted", "IOS", "yesterday",
			received, TimeReceived, "", true},
		{"year out of range: accepted, receive time, noted", "IOS", "1970-01-01T00:00:00Z",
			received, TimeReceived, "", true},
	}
	good := readFixture(t, "trustkit-ios.json")
	for _, c := range cases {
		t.Run(c.source, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(good, &m)
			m["app-platform"], m["date-time"] = c.platform, c.dt
			b, _ := json.Marshal(m)
			r, err := Parse(b, Options{Now: fixedNow})
			if err != nil {
				t.Fatalf("refused for its date-time %q: %v", c.dt, err)
			}
			if !r.Time.Equal(c.time) || r.TimeSource != c.timeSource || r.ClaimedLocalTime != c.local || (r.TimeNote != "") != c.note {
				t.Errorf("date-time %q: time %v (%s), local %q, note %q; want %v (%s), %q, note %v",
					c.dt, r.Time, r.TimeSource, r.ClaimedLocalTime, r.TimeNote, c.time, c.timeSource, c.local, c.note)
			}
		})
	}
	// HPKP (RFC 7469 section 3) with lower-case separators.
	hpkp := strings.Replace(string(readFixture(t, "hpkp.json")), "2026-03-14T09:28:10Z", "2026-03-14t09:28:10z", 1)
	r, err := Parse([]byte(hpkp), Options{Now: fixedNow})
	if err != nil || !r.Time.Equal(time.Date(2026, 3, 14, 9, 28, 10, 0, time.UTC)) || r.TimeSource != TimeClient {
		t.Errorf("hpkp lower-case: %v %v", r, err)
	}
}

// TestAndroidDedupByReceiveDay: the same failure reported by a device in
// Tokyo and one in UTC, received within the same UTC day, shares one dedup
// key; reading the Tokyo device's local time as UTC put it on the next day.
func TestAndroidDedupByReceiveDay(t *testing.T) {
	body := readFixture(t, "trustkit-android.json")
	at := func(dt string) *Report {
		var m map[string]any
		json.Unmarshal(body, &m)
		m["date-time"] = dt
		b, _ := json.Marshal(m)
		r, err := Parse(b, Options{App: "shop", Now: func() time.Time { return time.Date(2026, 3, 14, 23, 0, 5, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tokyo, utc := at("2026-03-15T08:00:00Z"), at("2026-03-14T23:00:00Z")
	if tokyo.DedupKey != utc.DedupKey {
		t.Errorf("Tokyo and UTC devices got different dedup keys (%s, %s)", tokyo.Time, utc.Time)
	}
	if !tokyo.Time.Equal(time.Date(2026, 3, 14, 23, 0, 5, 0, time.UTC)) || tokyo.ClaimedLocalTime != "2026-03-15T08:00:00" {
		t.Errorf("tokyo: %v %q", tokyo.Time, tokyo.ClaimedLocalTime)
	}
}

// TestIgnoredPinAlgorithms: RFC 7469 section 2.1.1 (pin directives naming
// a hash algorithm the UA does not recognise are ignored); a pin-sha1
// known pin in a report is ignored and counted, not a reason to refuse it.
func TestIgnoredPinAlgorithms(t *testing.T) {
	for _, name := range []string{"hpkp.json", "trustkit-ios.json"} {
		var m map[string]any
		json.Unmarshal(readFixture(t, name), &m)
		known := m["known-pins"].([]any)
		m["known-pins"] = append([]any{`pin-sha1="AAAAAAAAAAAAAAAAAAAAAAAAAAA="`, `PIN-SHA512="AAAA"`}, known...)
		b, _ := json.Marshal(m)
		r, err := Parse(b, Options{Now: fixedNow})
		if err != nil {
			t.Fatalf("%s with pin-sha1: %v", name, err)
		}
		if r.IgnoredPins != 2 || len(r.ExpectedPins) != len(known) {
			t.Errorf("%s: ignored %d, expected pins %d", name, r.IgnoredPins, len(r.ExpectedPins))
		}
	}
}

func TestFromFailureRoundTrip(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "api.example.com"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	exp := []pin.Pin{{1}, {2}}
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	tk := trustkit.FromFailure(&enforce.Failure{Host: "API.example.com", Port: 8443,
		Policy: policy.Policy{Pattern: "**.example.com"}, Expected: exp,
		VerifiedChains: [][]*x509.Certificate{{cert}}, ServedChain: []*x509.Certificate{cert}, Time: when},
		trustkit.App{BundleID: "shop", Version: "2.0", ClientVersion: "pinset/dev"}, time.Time{})
	body, err := tk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"app-platform":"GO"`) || !strings.Contains(string(body), `"date-time":"2026-05-06T06:08:09Z"`) {
		t.Errorf("body %s", body)
	}
	r, err := Parse(body, Options{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != FormatPinset || r.Host != "api.example.com" || r.Port != 8443 || !r.Enforce ||
		r.NotedHost != "**.example.com" || len(r.ExpectedPins) != 2 || r.ExpectedPins[1] != exp[1] ||
		r.PresentedPins()[0] != pin.FromCertificate(cert) || !r.Time.Equal(when) {
		t.Errorf("round trip: %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"trustkit-ios.json", "trustkit-android.json", "hpkp.json", "pinset-go.json"} {
		f.Add(readFixture(f, n))
	}
	f.Add([]byte(`{"hostname":"x","known-pins":["pin-sha256=\"\""]}`))
	f.Add([]byte(`{"app-platform":"IOS","hostname":"a.b","port":1e3}`))
	cache := NewChainCache(1 << 20)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body, Options{Now: fixedNow})
		// The chain cache never changes the answer (the second parse
		// may be a hit).
		for range 2 {
			c, cerr := Parse(body, Options{Now: fixedNow, Chains: cache})
			if (cerr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(c, r)) {
				t.Fatalf("cached parse: %+v, %v; uncached: %+v, %v", c, cerr, r, err)
			}
		}
		if err != nil {
			if r != nil {
				t.Fatal("report and error")
			}
			return
		}
		if r.Host == "" || len(r.DedupKey) != 64 || r.Time.IsZero() {
			t.Fatalf("accepted report lacks host, key or time: %+v", r)
		}
		if len(r.ServedChain)+len(r.ValidatedChain) == 0 {
			t.Fatal("accepted report without a chain")
		}
	})
}

// FuzzDecodeObject: the one-pass split of a valid body gives the members
// json.Decoder gives (a repeated key keeps its last value, escaped keys
// unquoted, values byte for byte), and refuses what it refuses.
func FuzzDecodeObject(f *testing.F) {
	for _, n := range []string{"trustkit-ios.json", "trustkit-android.json", "hpkp.json", "pinset-go.json"} {
		f.Add(readFixture(f, n))
	}
	for _, s := range []string{`{}`, ` { "a" : [1, {"b": "}\"]"}] , "a\u0041":null,"a":-1.5e3 } `, `{"\ud800":"x"}`,
		`[1]`, `null`, `"x"`, `{"a":1} {}`, `{"a":1,}`, `{"a":"\"}"}`, `{"a":true,"b":false}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // Parse refuses it before decodeObject
		}
		got, err := decodeObject(body)
		want, werr := decodeObjectSlow(body)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeObject: %v; json.Decoder: %v", err, werr)
		}
		if len(got) != len(want) {
			t.Fatalf("decodeObject: %d members; json.Decoder: %d", len(got), len(want))
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
				t.Fatalf("member %q: %q (present %v); json.Decoder: %q", k, g, ok, v)
			}
		}
	})
}
