package scan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// samplesDir finds ../shared/samples relative to the module root (the
// directory holding go.mod), or skips the test when it is absent.
func samplesDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	root := ""
	if err == nil && strings.TrimSpace(string(out)) != "" {
		root = filepath.Dir(strings.TrimSpace(string(out)))
	} else {
		root, _ = filepath.Abs("..")
	}
	dir := filepath.Join(root, "..", "shared", "samples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real samples not available (%s): %v", dir, err)
	}
	return dir
}

func findingsOf(r *Report, id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.RuleID == id {
			out = append(out, f)
		}
	}
	return out
}

// Each sample must produce the findings the reference lists for it.
func TestSamples(t *testing.T) {
	dir := samplesDir(t)
	type check struct {
		file    string
		opts    Options
		present []string // "ID" or "ID:severity"
		absent  []string
		verify  func(t *testing.T, r *Report)
	}
	checks := []check{
		{file: "android/AndroGoat.apk",
			present: []string{"AND-CLEARTEXT-BASE:high", "AND-USER-CA:high", "AND-MINSDK-USER-CA:medium", "AND-NO-PINNING:medium"},
			// targetSdk 26 is <= 27, but the NSC sets base-config
			// cleartext explicitly, so the default does not apply.
			absent: []string{"AND-CLEARTEXT-DEFAULT", "AND-NSC-UNRESOLVED"},
			verify: func(t *testing.T, r *Report) {
				// NSC at an obfuscated path, found through resources.arsc.
				if r.App.NSC != "res/4u.xml" || r.App.TargetSDK != 26 || !r.App.Debuggable {
					t.Errorf("app %+v", r.App)
				}
				if f := findingsOf(r, "AND-CLEARTEXT-BASE"); len(f) != 1 || f[0].Location.Entry != "res/4u.xml" {
					t.Errorf("cleartext finding %+v", f)
				}
			}},
		{file: "android/dvba.apk",
			present: []string{"AND-CLEARTEXT-BASE:high", "AND-USER-CA:high", "AND-CLEARTEXT-MANIFEST:low", "AND-MINSDK-USER-CA:medium"},
			absent:  []string{"AND-CLEARTEXT-DEFAULT", "AND-NSC-UNRESOLVED"},
			verify: func(t *testing.T, r *Report) {
				if r.App.TargetSDK != 29 || r.App.NSC != "res/xml/network_security_config.xml" {
					t.Errorf("app %+v", r.App)
				}
			}},
		{file: "android/UnCrackable-Level1.apk",
			present: []string{"AND-MINSDK-USER-CA:medium", "AND-NO-PINNING:medium"},
			// targetSdk 28: cleartext is off by default; no NSC.
			absent: []string{"AND-CLEARTEXT-DEFAULT", "AND-CLEARTEXT-MANIFEST", "AND-USER-CA-DEFAULT", "AND-CLEARTEXT-BASE"},
			verify: func(t *testing.T, r *Report) {
				if r.App.MinSDK != 19 || r.App.TargetSDK != 28 || r.App.NSC != "" {
					t.Errorf("app %+v", r.App)
				}
			}},
		{file: "android/app-info-android.aab",
			present: []string{"AND-MINSDK-USER-CA:medium"},
			absent:  []string{"AND-CLEARTEXT-DEFAULT", "AND-CLEARTEXT-MANIFEST"},
			verify: func(t *testing.T, r *Report) {
				if r.Format != "aab" || r.App.TargetSDK != 31 || r.App.ID != "com.icyleaf.appinfodemo" {
					t.Errorf("app %+v", r.App)
				}
			}},
		{file: "android/MASTG-DEMO-0057-network_security_config.xml",
			present: []string{"AND-USER-CA:high"},
			absent:  []string{"AND-CLEARTEXT-BASE"}},
		{file: "ios/UnCrackable-Level1.ipa",
			present: []string{"IOS-NO-PINNING:medium"},
			absent:  []string{"IOS-ATS-ARBITRARY-LOADS", "IOS-BINARY-ENCRYPTED", "IOS-HTTP-URL"},
			verify: func(t *testing.T, r *Report) {
				if r.App.Plist != "xml" || r.App.ID != "sg.vp.UnCrackable1" {
					t.Errorf("app %+v", r.App)
				}
			}},
		{file: "ios/app-info-iphone.ipa",
			present: []string{"IOS-NO-PINNING:medium"},
			absent:  []string{"IOS-ATS-ARBITRARY-LOADS"},
			verify: func(t *testing.T, r *Report) {
				if r.App.Plist != "binary" || r.App.ID != "com.icyleaf.AppInfoDemo" {
					t.Errorf("app %+v", r.App)
				}
			}},
		{file: "ios/iGoat-Info.plist",
			present: []string{"IOS-ATS-ARBITRARY-LOADS:high"}},
		{file: "ios/MASTG-DEMO-0148-Info.plist",
			// example.com is the app's own backend (the sample says so in
			// a comment): declared first-party, it must be reported.
			opts:    Options{FirstParty: []string{"example.com"}},
			present: []string{"IOS-NO-PINNING:medium", "IOS-PIN-CA-ONLY:info", "IOS-PIN-NO-BACKUP:low"},
			absent:  []string{"IOS-PIN-INVALID"},
			verify: func(t *testing.T, r *Report) {
				f := findingsOf(r, "IOS-NO-PINNING")
				if len(f) != 1 || !strings.Contains(f[0].Message, "example.com") {
					t.Errorf("IOS-NO-PINNING %+v", f)
				}
				if len(r.Pins) != 2 {
					t.Errorf("pins %+v", r.Pins)
				}
			}},
	}
	for _, c := range checks {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, filepath.FromSlash(c.file))
			if _, err := os.Stat(path); err != nil {
				t.Skipf("sample absent: %v", err)
			}
			c.opts.Now = fixed
			r, err := File(path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			want(t, r, c.present, c.absent)
			if c.verify != nil {
				c.verify(t, r)
			}
		})
	}
}
