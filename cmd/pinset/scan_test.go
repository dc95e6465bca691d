package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/trust/trusttest"
)

func scanWrite(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const scanUserCANSC = `<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <base-config>
    <trust-anchors><certificates src="system"/><certificates src="user"/></trust-anchors>
  </base-config>
</network-security-config>
`

func TestScanFormatsAndFailOn(t *testing.T) {
	dir := t.TempDir()
	nsc := scanWrite(t, dir, "network_security_config.xml", []byte(scanUserCANSC))

	code, out, stderr := runCLI(t, "scan", nsc)
	if code != 0 || !strings.Contains(out, "HIGH   AND-USER-CA") || !strings.Contains(out, "fix: ") || stderr != "" {
		t.Fatalf("text: code %d\n%s\n%s", code, out, stderr)
	}

	code, out, _ = runCLI(t, "scan", "--format", "json", nsc)
	var rep struct {
		Platform string
		Findings []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
			MASTG    string `json:"mastg"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("json: %v (code %d)\n%s", err, code, out)
	}
	if rep.Platform != "android" || len(rep.Findings) == 0 || rep.Findings[0].ID != "AND-USER-CA" || rep.Findings[0].Severity != "high" || rep.Findings[0].MASTG != "MASTG-TEST-0286" {
		t.Fatalf("json report %+v", rep)
	}

	code, out, _ = runCLI(t, "scan", "--format", "sarif", nsc)
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != 0 || sarif.Version != "2.1.0" || sarif.Runs[0].Results[0].Level != "error" {
		t.Fatalf("sarif: %v %+v", err, sarif)
	}

	code, _, stderr = runCLI(t, "scan", "--fail-on", "high", nsc)
	if code != scanFindingsStatus || !strings.Contains(stderr, "findings at or above high") {
		t.Fatalf("--fail-on high: code %d, %q", code, stderr)
	}
	// Nothing high in a config without user CAs: --fail-on high passes,
	// --fail-on medium fails (no pinning is medium).
	clean := scanWrite(t, dir, "clean.xml", []byte(`<network-security-config><base-config cleartextTrafficPermitted="false"/></network-security-config>`))
	if code, _, stderr := runCLI(t, "scan", "--fail-on", "high", clean); code != 0 {
		t.Fatalf("clean --fail-on high: %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "scan", "--fail-on", "medium", clean); code != scanFindingsStatus {
		t.Fatalf("clean --fail-on medium: %d", code)
	}
}

func TestScanBadInput(t *testing.T) {
	dir := t.TempDir()
	// A truncated APK: the error names the file, exit status 1, no panic.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, _ := zw.Create("AndroidManifest.xml")
	f.Write(bytes.Repeat([]byte("x"), 4096))
	zw.Close()
	apk := scanWrite(t, dir, "app.apk", buf.Bytes()[:buf.Len()/2])
	code, _, stderr := runCLI(t, "scan", apk)
	if code != 1 || !strings.HasPrefix(stderr, "pinset: "+apk+": ") || strings.Contains(stderr, "panic") {
		t.Fatalf("truncated apk: %d %q", code, stderr)
	}
	// A whole APK with a malformed manifest: the entry is named.
	buf.Reset()
	zw = zip.NewWriter(&buf)
	f, _ = zw.Create("AndroidManifest.xml")
	f.Write([]byte{3, 0, 8, 0, 0xff, 0xff, 0, 0})
	zw.Close()
	apk = scanWrite(t, dir, "bad.apk", buf.Bytes())
	code, _, stderr = runCLI(t, "scan", apk)
	if code != 1 || !strings.Contains(stderr, apk+": AndroidManifest.xml: ") {
		t.Fatalf("bad manifest: %d %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "scan", filepath.Join(dir, "missing.ipa"))
	if code != 1 || !strings.Contains(stderr, "missing.ipa") {
		t.Fatalf("missing: %d %q", code, stderr)
	}
	other := scanWrite(t, dir, "notes.txt", []byte("hello"))
	if code, _, stderr := runCLI(t, "scan", other); code != 1 || !strings.Contains(stderr, "not an APK, AAB, IPA") {
		t.Fatalf("unknown: %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "scan", "--format", "xml", other); code != 1 || !strings.Contains(stderr, "--format") {
		t.Fatalf("bad format: %d %q", code, stderr)
	}
}

// The pins an app embeds are cross-checked against the signed manifest
// (verified with --root) and the chain a loopback server really serves.
func TestScanManifestAndConnect(t *testing.T) {
	dir := t.TempDir()
	repo := trusttest.New("com.example.app", 7)
	root := scanWrite(t, dir, "root.json", repo.Root())
	pins := scanWrite(t, dir, "pins.json", repo.Manifest())

	h := pki.Must(pki.NewHierarchy(pki.Template{}, "api.example.com"))
	_, portText, _ := net.SplitHostPort(enforcetest.Serve(t, h.Leaf.TLSCertificate(h.Intermediate.Cert)))
	port, _ := strconv.Atoi(portText)
	ca := scanWrite(t, dir, "ca.pem", h.Root.CertPEM())

	live := h.Leaf.Pin()                       // matches the live chain only
	backup := trusttest.Pin("api-backup")      // matches the manifest only
	stale := pin.FromSPKI([]byte("stale key")) // matches nothing
	nsc := scanWrite(t, dir, "nsc.xml", []byte(fmt.Sprintf(`<network-security-config>
  <domain-config><domain>api.example.com</domain>
    <pin-set><pin digest="SHA-256">%s</pin><pin digest="SHA-256">%s</pin><pin digest="SHA-256">%s</pin></pin-set>
  </domain-config>
</network-security-config>`, live, backup, stale)))

	unmatched := func(out string) []string {
		var rep struct {
			Findings []struct {
				ID      string `json:"id"`
				Message string `json:"message"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var msgs []string
		for _, f := range rep.Findings {
			if f.ID == "PIN-UNMATCHED" {
				msgs = append(msgs, f.Message)
			}
		}
		return msgs
	}

	code, out, stderr := runCLI(t, "scan", "--format", "json", "--manifest", pins, "--root", root,
		"--connect", "--cafile", ca, "--port", fmt.Sprint(port), "--resolve", fmt.Sprintf("api.example.com:%d:127.0.0.1", port), nsc)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	got := unmatched(out)
	if len(got) != 1 || !strings.Contains(got[0], stale.String()) {
		t.Fatalf("PIN-UNMATCHED with manifest and live chain: %v", got)
	}

	// Manifest only: the live pin now matches nothing either.
	_, out, stderr = runCLI(t, "scan", "--format", "json", "--manifest", pins, nsc)
	if got := unmatched(out); len(got) != 2 {
		t.Fatalf("manifest only: %v", got)
	}
	if !strings.Contains(stderr, "signatures not verified") {
		t.Fatalf("no warning without --root: %q", stderr)
	}

	// A manifest that does not verify under the given root is refused.
	otherRoot := scanWrite(t, dir, "other-root.json", trusttest.New("com.example.app", 8).Root())
	code, _, stderr = runCLI(t, "scan", "--manifest", pins, "--root", otherRoot, nsc)
	if code != 1 || !strings.Contains(stderr, "pins.json") {
		t.Fatalf("wrong root: %d %q", code, stderr)
	}
}

// The real sample APKs scan from the command line too.
func TestScanSampleAPK(t *testing.T) {
	p := filepath.Join("..", "..", "..", "shared", "samples", "android", "AndroGoat.apk")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("sample absent: %v", err)
	}
	code, out, stderr := runCLI(t, "scan", "--fail-on", "high", p)
	if code != scanFindingsStatus || !strings.Contains(out, "AND-CLEARTEXT-BASE") || !strings.Contains(out, "res/4u.xml") {
		t.Fatalf("code %d\n%s\n%s", code, out, stderr)
	}
}
