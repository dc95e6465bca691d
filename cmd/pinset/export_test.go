package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

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
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{h.Leaf.TLSCertificate()}})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func(c net.Conn) {
					defer c.Close()
					_ = c.(*tls.Conn).Handshake()
				}(c)
			}
		}()
		check(t, "--connect", ln.Addr().String(), "--cafile", caFile, "--timeout", "5s")
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
