package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/export"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust/trusttest"
)

// exportDocs writes a signed root and manifest (2-of-3 root keys, 2-of-3
// pins keys) for the given hosts and returns their paths.
func exportDocs(t *testing.T, hosts []policy.Policy) (rootFile, manifestFile string, repo *trusttest.Repo) {
	t.Helper()
	repo = trusttest.New("com.example.app", 7)
	if hosts != nil {
		repo.Hosts = hosts
		repo.PublishManifest(nil)
	}
	dir := t.TempDir()
	rootFile, manifestFile = filepath.Join(dir, "root.json"), filepath.Join(dir, "pins.json")
	if err := os.WriteFile(rootFile, repo.Root(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifestFile, repo.Manifest(), 0o644); err != nil {
		t.Fatal(err)
	}
	return rootFile, manifestFile, repo
}

func TestExportPinFlag(t *testing.T) {
	a, b := trusttest.Pin("a"), trusttest.Pin("b")
	out := filepath.Join(t.TempDir(), "Pins.kt")
	code, stdout, stderr := runCLI(t, "export", "okhttp",
		"--pin", "API.Example.com="+a.Format(pin.OkHttp)+","+b.Format(pin.Hex),
		"--pin", "**.example.com="+a.String()+","+b.String()+";report-uri=https://r.example.com/x",
		"-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout with -o: %q", stdout)
	}
	kt, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"api.example.com",`, `"**.example.com",`, `"` + a.Format(pin.OkHttp) + `",`, `"` + b.Format(pin.OkHttp) + `",`} {
		if !bytes.Contains(kt, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, kt)
		}
	}
	for _, want := range []string{"pinset: warning: okhttp: **.example.com: OkHttp sends no pin-failure reports"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Same pins for both patterns: OkHttp's any-match changes nothing, so
	// there is no any-match warning.
	if strings.Contains(stderr, "matched by both") {
		t.Errorf("any-match warning for identical pins:\n%s", stderr)
	}
}

func TestExportManifest(t *testing.T) {
	rootFile, manifestFile, repo := exportDocs(t, nil)
	code, stdout, stderr := runCLI(t, "export", "android-nsc", "--manifest", manifestFile, "--root", rootFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "not verified") {
		t.Errorf("verified manifest reported as unverified:\n%s", stderr)
	}
	for _, h := range repo.Hosts {
		for _, q := range h.Pins {
			if !strings.Contains(stdout, ">"+q.String()+"</pin>") {
				t.Errorf("pin %s of %s missing:\n%s", q, h.Pattern, stdout)
			}
		}
	}
	if !strings.Contains(stdout, "pins.json (app com.example.app, manifest version 1, signatures verified)") {
		t.Errorf("header does not name the manifest:\n%s", stdout)
	}
	if !strings.Contains(stdout, `<domain includeSubdomains="true">cdn.example.com</domain>`) {
		t.Errorf("**.cdn.example.com not written as includeSubdomains:\n%s", stdout)
	}

	// Without --root: decoded, with a warning.
	code, _, stderr = runCLI(t, "export", "android-nsc", "--manifest", manifestFile)
	if code != 0 || !strings.Contains(stderr, "signatures not verified") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}

	// --host selects by pattern or by host name.
	code, stdout, stderr = runCLI(t, "export", "hpkp", "--manifest", manifestFile, "--root", rootFile, "--host", "img.cdn.example.com")
	if code != 0 || strings.Contains(stdout, "api.example.com") || !strings.Contains(stdout, "cdn.example.com") {
		t.Errorf("--host img.cdn.example.com: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "export", "hpkp", "--manifest", manifestFile, "--host", "example.org")
	if code == 0 || !strings.Contains(stderr, `--host "example.org": no policy covers it`) {
		t.Errorf("unmatched --host: exit %d, %s", code, stderr)
	}

	// A manifest signed by someone else is refused with --root.
	other := trusttest.New("com.example.app", 8)
	if err := os.WriteFile(manifestFile, other.Manifest(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "export", "android-nsc", "--manifest", manifestFile, "--root", rootFile)
	if code == 0 || stdout != "" || !strings.Contains(stderr, "pinset: "+manifestFile+": ") {
		t.Errorf("foreign manifest: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestExportStrictAndJSON(t *testing.T) {
	spec := "*.example.com=" + trusttest.Pin("a").String() + "," + trusttest.Pin("b").String()
	code, stdout, stderr := runCLI(t, "export", "ios-ats", "--pin", spec, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Format   string
		Output   string
		Warnings []struct{ Code, Pattern, Message string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	codes := map[string]bool{}
	for _, w := range doc.Warnings {
		codes[w.Code] = true
	}
	if doc.Format != "ios-ats" || !strings.Contains(doc.Output, "NSPinnedDomains") || !codes["one-label-wildcard"] || !codes["chain-position"] {
		t.Errorf("JSON document: %+v", doc)
	}
	code, _, stderr = runCLI(t, "export", "ios-ats", "--pin", spec, "--strict")
	if code != 3 || !strings.Contains(stderr, "--strict refuses them") {
		t.Errorf("--strict: exit %d, %s", code, stderr)
	}
	// A command that fails writes nothing: no output file, nothing on
	// stdout (the file used to be written before the refusal).
	outFile := filepath.Join(t.TempDir(), "Info.plist")
	code, stdout, _ = runCLI(t, "export", "ios-ats", "--pin", spec, "--strict", "-o", outFile)
	if code != 3 || stdout != "" {
		t.Errorf("--strict -o: exit %d, stdout %q", code, stdout)
	}
	if _, err := os.Stat(outFile); !os.IsNotExist(err) {
		t.Errorf("--strict refused, yet %s was written (%v)", outFile, err)
	}
}

func TestExportPositions(t *testing.T) {
	now := time.Now()
	h, err := pki.NewHierarchy(pki.Template{Now: func() time.Time { return now }}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	chainFile := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(caFile, h.Root.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chainFile, pki.CertPEM(h.Leaf.Chain...), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := "api.example.com=" + h.Leaf.Pin().String() + "," + trusttest.Pin("backup").String()
	spec2 := "cdn.example.com=" + h.Intermediate.Pin().String() + "," + h.Root.Pin().String()
	check := func(t *testing.T, args ...string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"export", "ios-ats", "--pin", spec, "--pin", spec2}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var v struct {
			NSAppTransportSecurity struct {
				NSPinnedDomains map[string]struct {
					NSPinnedLeafIdentities []map[string]string
					NSPinnedCAIdentities   []map[string]string
				}
			}
		}
		if _, err := plist.Unmarshal([]byte(stdout), &v); err != nil {
			t.Fatal(err)
		}
		d := v.NSAppTransportSecurity.NSPinnedDomains
		api, cdn := d["api.example.com"], d["cdn.example.com"]
		if len(api.NSPinnedLeafIdentities) != 2 || len(api.NSPinnedCAIdentities) != 0 ||
			api.NSPinnedLeafIdentities[0]["SPKI-SHA256-BASE64"] != h.Leaf.Pin().String() {
			t.Errorf("api.example.com: %+v", api)
		}
		if len(cdn.NSPinnedCAIdentities) != 2 || len(cdn.NSPinnedLeafIdentities) != 0 {
			t.Errorf("cdn.example.com: %+v", cdn)
		}
		// The held-back pin's position is unknown, and said so.
		if !strings.Contains(stderr, "chain position of pin "+trusttest.Pin("backup").String()+" is unknown") {
			t.Errorf("no warning about the backup pin:\n%s", stderr)
		}
	}
	t.Run("cert", func(t *testing.T) { check(t, "--cert", chainFile) })
	t.Run("connect", func(t *testing.T) {
		addr := enforcetest.Serve(t, h.Leaf.TLSCertificate())
		check(t, "--connect", addr, "--cafile", caFile, "--timeout", "5s")
	})
}

func TestExportBadInput(t *testing.T) {
	two := trusttest.Pin("a").String() + "," + trusttest.Pin("b").String()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export"}, "export needs one FORMAT"},
		{[]string{"export", "xml", "--pin", "a.example.com=" + two}, `unknown export format "xml"`},
		{[]string{"export", "okhttp"}, "nothing to export"},
		{[]string{"export", "okhttp", "--pin", "a.example.com"}, "expected HOST=PIN,PIN"},
		{[]string{"export", "okhttp", "--pin", "a.example.com=nope,nope2"}, `invalid pin "nope"`},
		{[]string{"export", "okhttp", "--pin", "a.example.com=" + two + ";bogus"}, `unknown option "bogus"`},
		{[]string{"export", "okhttp", "--manifest", "/nonexistent/pins.json"}, "/nonexistent/pins.json"},
		{[]string{"export", "okhttp", "--pin", "a.example.com=" + two, "--expiration", "next week"}, "--expiration"},
		{[]string{"export", "hpkp", "--pin", "a.example.com=" + two, "--max-age", "forever"}, "--max-age"},
		{[]string{"export", "go", "--pin", "a.example.com=" + two}, "--manifest and --root are required"},
		{[]string{"export", "ios-ats", "--pin", "a.example.com=" + two, "--cert", "/nonexistent.pem"}, "/nonexistent.pem"},
		{[]string{"export", "ios-ats", "--pin", "a.example.com=" + two, "--connect", "127.0.0.1:1", "--timeout", "2s"}, "--connect 127.0.0.1:1"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code == 0 || stdout != "" || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want one line containing %q)", c.args, code, stdout, stderr, c.want)
		}
	}
	// A manifest file that is not an envelope.
	bad := filepath.Join(t.TempDir(), "pins.json")
	if err := os.WriteFile(bad, []byte(`{"hosts": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "export", "okhttp", "--manifest", bad); code == 0 || !strings.HasPrefix(stderr, "pinset: "+bad+": ") {
		t.Errorf("bad manifest: exit %d, %s", code, stderr)
	}
}

func TestExportGo(t *testing.T) {
	rootFile, manifestFile, repo := exportDocs(t, nil)
	out := filepath.Join(t.TempDir(), "pins.go")
	code, _, stderr := runCLI(t, "export", "go", "--manifest", manifestFile, "--root", rootFile, "--package", "bundle", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(src, []byte("// Code generated by pinset export go; DO NOT EDIT.")) || !bytes.Contains(src, []byte("package bundle")) {
		t.Errorf("generated file:\n%s", src)
	}
	_ = repo
	code, _, stderr = runCLI(t, "export", "go", "--manifest", manifestFile, "--root", rootFile, "--host", "api.example.com")
	if code == 0 || !strings.Contains(stderr, "--host cannot select") {
		t.Errorf("go with --host: exit %d, %s", code, stderr)
	}
}

func TestExportOkHttpVersion(t *testing.T) {
	a, b := trusttest.Pin("a"), trusttest.Pin("b")
	spec := "**.example.com=" + a.String() + "," + b.String()
	code, stdout, stderr := runCLI(t, "export", "okhttp", "--okhttp-version", "3", "--pin", spec)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"example.com",`, `"*.example.com",`, "// Needs OkHttp 3.2.0 or later"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--okhttp-version 3 output lacks %s:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, `"**.example.com"`) {
		t.Errorf("--okhttp-version 3 wrote a **. pattern:\n%s", stdout)
	}
	if !strings.Contains(stderr, "okhttp: **.example.com: OkHttp before 4.3.0 has no") {
		t.Errorf("no subdomain-depth warning:\n%s", stderr)
	}
	code, stdout, _ = runCLI(t, "export", "okhttp", "--pin", spec)
	if code != 0 || !strings.Contains(stdout, `"**.example.com",`) || !strings.Contains(stdout, "// Needs OkHttp 4.3.0 or later") {
		t.Errorf("default: exit %d:\n%s", code, stdout)
	}
	code, _, stderr = runCLI(t, "export", "okhttp", "--okhttp-version", "2", "--pin", spec)
	if code == 0 || !strings.Contains(stderr, "com.squareup.okhttp") {
		t.Errorf("--okhttp-version 2: exit %d: %s", code, stderr)
	}
}

// TestExportExpiration: --expiration 2027-06-30 keeps the pins enforced
// through that whole day on every device: Android reads the written date at
// 00:00 in the device's zone (UTC+14 first), TrustKit iOS at 00:00 UTC.
func TestExportExpiration(t *testing.T) {
	a, b := trusttest.Pin("a"), trusttest.Pin("b")
	spec := "api.example.com=" + a.String() + "," + b.String()
	for _, c := range []struct{ format, flag, want string }{
		{"android-nsc", "2027-06-30", `<pin-set expiration="2027-07-02">`},
		{"trustkit-android", "2027-06-30", `<pin-set expiration="2027-07-02">`},
		{"trustkit-ios", "2027-06-30", `<string>2027-07-01</string>`},
		{"android-nsc", "2027-06-30T09:00:00Z", `<pin-set expiration="2027-07-01">`},
		{"trustkit-ios", "2027-06-30T09:00:00Z", `<string>2027-07-01</string>`},
	} {
		code, stdout, stderr := runCLI(t, "export", c.format, "--pin", spec, "--expiration", c.flag)
		if code != 0 {
			t.Fatalf("%s --expiration %s: exit %d: %s", c.format, c.flag, code, stderr)
		}
		if !strings.Contains(stdout, c.want) || !strings.Contains(stdout, "chosen so that") {
			t.Errorf("%s --expiration %s: want %s and the note on how it was chosen:\n%s", c.format, c.flag, c.want, stdout)
		}
	}
	code, _, stderr := runCLI(t, "export", "android-nsc", "--pin", spec, "--expiration", "manifest")
	if code == 0 || !strings.Contains(stderr, "needs --manifest") {
		t.Errorf("--expiration manifest without a manifest: exit %d: %s", code, stderr)
	}
	hosts := []policy.Policy{{Pattern: "api.example.com", Pins: []pin.Pin{a, b}}}
	root, manifest, _ := exportDocs(t, hosts)
	mb, _ := os.ReadFile(manifest)
	m, err := export.LoadManifest(mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first date whose 00:00 at UTC+14 is not before the expiry.
	d := m.Expires.UTC().Truncate(24 * time.Hour)
	for d.Add(-14 * time.Hour).Before(m.Expires) {
		d = d.AddDate(0, 0, 1)
	}
	code, stdout, stderr := runCLI(t, "export", "android-nsc", "--manifest", manifest, "--root", root, "--expiration", "manifest")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := `<pin-set expiration="` + d.Format(time.DateOnly) + `">`; !strings.Contains(stdout, want) || !strings.Contains(stdout, "enforces them until "+m.Expires.UTC().Format("2006-01-02 15:04 UTC")) {
		t.Errorf("--expiration manifest (expires %v): want %s:\n%s", m.Expires, want, stdout)
	}
}

func TestExportTrustAnchorsAndCurl(t *testing.T) {
	a, b := trusttest.Pin("a"), trusttest.Pin("b")
	spec := "api.example.com=" + a.String() + "," + b.String()
	nsc := filepath.Join(t.TempDir(), "network_security_config.xml")
	if err := os.WriteFile(nsc, []byte(`<network-security-config><base-config><trust-anchors><certificates src="@raw/my_ca"/><certificates src="system"/></trust-anchors></base-config></network-security-config>`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "export", "android-nsc", "--nsc", nsc, "--pin", spec)
	if code != 0 || !strings.Contains(stdout, `<certificates src="@raw/my_ca" />`) || strings.Contains(stderr, "trust-anchors") {
		t.Errorf("--nsc: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "export", "android-nsc", "--trust-anchor", "system", "--trust-anchor", "@raw/my_ca", "--pin", spec)
	if code != 0 || !strings.Contains(stdout, `<certificates src="@raw/my_ca" />`) {
		t.Errorf("--trust-anchor: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "export", "android-nsc", "--pin", spec)
	if code != 0 || !strings.Contains(stderr, "android-nsc: Android NSC: pinned hosts trust the system CAs only") {
		t.Errorf("no anchors: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "export", "android-nsc", "--trust-anchor", "/etc/ssl/ca.pem", "--pin", spec)
	if code == 0 || !strings.Contains(stderr, "unsupported trust anchor") {
		t.Errorf("bad anchor: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "export", "curl", "--pin", spec)
	want := "--pinnedpubkey 'sha256//" + a.String() + ";sha256//" + b.String() + "'"
	if code != 0 || !strings.Contains(stdout, "# api.example.com\n"+want+"\n") {
		t.Errorf("curl: exit %d, want %s:\n%s\n%s", code, want, stdout, stderr)
	}
}
