package export

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The okhttp format as data says what the Kotlin code says: the same
// .add(pattern, pins...) calls in the same order, the same warnings and
// minimum version, for both OkHttp versions; and the data carries the code.
func TestOkHttpJSONMatchesCode(t *testing.T) {
	for _, version := range []int{OkHttp3, OkHttp4} {
		in := fullInput(t)
		in.OkHttpVersion = version
		res, err := Export("okhttp", in)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := OkHttp(in)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Output != string(res.Data) {
			t.Fatalf("v%d: output differs from Export's", version)
		}
		var fromCode [][]string
		for _, m := range okhttpAdd.FindAllStringSubmatch(string(res.Data), -1) {
			e := []string{m[1]}
			for _, l := range okhttpPinLit.FindAllStringSubmatch(m[2], -1) {
				e = append(e, l[1])
			}
			fromCode = append(fromCode, e)
		}
		var fromData [][]string
		for _, e := range doc.Pins {
			fromData = append(fromData, append([]string{e.Pattern}, e.Pins...))
			if e.Policy == "" {
				t.Errorf("v%d: entry %s names no policy", version, e.Pattern)
			}
		}
		if len(fromCode) == 0 || !reflect.DeepEqual(fromCode, fromData) {
			t.Fatalf("v%d: code adds %v, data %v", version, fromCode, fromData)
		}
		if !reflect.DeepEqual(doc.WarningList(), res.Warnings) || len(doc.Warnings) != len(res.Warnings) {
			t.Fatalf("v%d: warnings differ", version)
		}
		if doc.OkHttpVersion != version || !strings.Contains(doc.Output, "Needs OkHttp "+doc.MinimumVersion+" or later") {
			t.Fatalf("v%d: version %d, minimum %s", version, doc.OkHttpVersion, doc.MinimumVersion)
		}
		b, err := doc.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"format", "okhttp_version", "minimum_version", "minimum_reason", "pins", "warnings", "output"} {
			if _, ok := back[k]; !ok {
				t.Errorf("v%d: JSON lacks %q", version, k)
			}
		}
	}
	in := fullInput(t)
	in.OkHttpVersion = 2
	if _, err := OkHttp(in); !errors.Is(err, ErrOkHttpVersion) {
		t.Errorf("OkHttp 2: %v", err)
	}
}

// TrustKit's dictionary in JSON is the trustkit-ios format's, without
// swizzling (TrustKit refuses it outside its shared instance).
func TestTrustKitJSON(t *testing.T) {
	in := fullInput(t)
	b, warns, err := TrustKitJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Export("trustkit-ios", in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(warns, res.Warnings) {
		t.Errorf("warnings differ:\n%v\n%v", warns, res.Warnings)
	}
	var cfg struct {
		Swizzle bool                      `json:"TSKSwizzleNetworkDelegates"`
		Domains map[string]map[string]any `json:"TSKPinnedDomains"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Swizzle || len(cfg.Domains) == 0 {
		t.Fatalf("TrustKit JSON: %s", b)
	}
	for d, v := range cfg.Domains {
		if !strings.Contains(string(res.Data), "<key>"+d+"</key>") {
			t.Errorf("domain %s is not in the trustkit-ios plist", d)
		}
		if _, ok := v["TSKPublicKeyHashes"]; !ok {
			t.Errorf("%s: no TSKPublicKeyHashes", d)
		}
	}
}
