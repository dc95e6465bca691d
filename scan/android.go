package scan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/internal/urls"
)

// Android decides the findings for an Android app read by scan/apk,
// scan/aab or from a bare Network Security Config.
func Android(app *android.App, opts Options) *Report {
	r := newReport(app.File, "android", app.Format)
	now := opts.now()
	m := app.Manifest
	nsc := app.NSC
	manifestLoc := Location{File: app.File, Entry: app.ManifestEntry, Element: "manifest/application"}
	nscLoc := func(element string) Location {
		return Location{File: app.File, Entry: app.NSCEntry, Element: element}
	}
	if m != nil {
		r.App = App{ID: m.Package, MinSDK: m.MinSDK, TargetSDK: m.TargetSDK, Debuggable: m.Debuggable, NSC: app.NSCEntry}
	}

	// A referenced config we could not read, or that Android refuses.
	switch {
	case m != nil && m.NetworkSecurityConfig != "" && nsc == nil && errors.Is(app.NSCErr, android.ErrNotNSC):
		r.add(newFinding("AND-NSC-INVALID", keep, nscLoc(""),
			"android:networkSecurityConfig=%q: %v", m.NetworkSecurityConfig, app.NSCErr))
	case m != nil && m.NetworkSecurityConfig != "" && nsc == nil:
		r.add(newFinding("AND-NSC-UNRESOLVED", keep, manifestLoc,
			"android:networkSecurityConfig=%q could not be read: %v", m.NetworkSecurityConfig, app.NSCErr))
	}
	if nsc != nil {
		refusalFindings(r, nsc, m, nscLoc)
	}

	// Cleartext and user-CA defaults, which depend on targetSdkVersion.
	if m != nil {
		target := m.EffectiveTargetSDK()
		sdkLoc := Location{File: app.File, Entry: app.ManifestEntry, Element: "manifest/uses-sdk"}
		switch {
		case nsc != nil:
			if (nsc.Base == nil || nsc.Base.Cleartext == nil) && target <= 27 {
				el := "network-security-config"
				if nsc.Base != nil {
					el = nsc.Base.Element
				}
				r.add(newFinding("AND-CLEARTEXT-DEFAULT", keep, nscLoc(el),
					"targetSdkVersion %d and the Network Security Config does not set cleartextTrafficPermitted in <base-config>: cleartext is permitted by default below API 28", target))
			}
			if m.UsesCleartextTraffic != nil && *m.UsesCleartextTraffic && m.MinSDK < 24 {
				r.add(newFinding("AND-CLEARTEXT-MANIFEST", Low, manifestLoc,
					`android:usesCleartextTraffic="true": ignored from Android 7.0, where the Network Security Config governs, but it applies on Android 6.0 (minSdkVersion %d)`, m.MinSDK))
			}
			if (nsc.Base == nil || nsc.Base.Anchors == nil) && target <= 23 {
				r.add(newFinding("AND-USER-CA-DEFAULT", keep, sdkLoc,
					"targetSdkVersion %d and <base-config> declares no <trust-anchors>: user-installed CAs are trusted by default up to API 23", target))
			}
		case m.NetworkSecurityConfig == "":
			if m.UsesCleartextTraffic != nil && *m.UsesCleartextTraffic {
				r.add(newFinding("AND-CLEARTEXT-MANIFEST", keep, manifestLoc,
					`android:usesCleartextTraffic="true" and no Network Security Config: every connection may use cleartext HTTP`))
			} else if m.UsesCleartextTraffic == nil && target <= 27 {
				r.add(newFinding("AND-CLEARTEXT-DEFAULT", keep, sdkLoc,
					"targetSdkVersion %d, no Network Security Config and no android:usesCleartextTraffic=\"false\": cleartext is permitted by default below API 28", target))
			}
			if target <= 23 {
				r.add(newFinding("AND-USER-CA-DEFAULT", keep, sdkLoc,
					"targetSdkVersion %d and no Network Security Config: user-installed CAs are trusted by default up to API 23", target))
			}
		}
		if m.MinSDK < 24 {
			min := m.MinSDK
			if min == 0 {
				min = 1
			}
			r.add(newFinding("AND-MINSDK-USER-CA", keep, sdkLoc,
				"minSdkVersion %d: on Android 6.0 and older the Network Security Config does not exist and user-installed CAs are trusted", min))
		}
	}

	var pinned []android.Domain
	if nsc != nil {
		configs := append([]*android.Config{}, nsc.Domains...)
		if nsc.Base != nil {
			if nsc.Base.Cleartext != nil && *nsc.Base.Cleartext {
				r.add(newFinding("AND-CLEARTEXT-BASE", keep, nscLoc(nsc.Base.Element),
					`<base-config cleartextTrafficPermitted="true">: cleartext HTTP is permitted for every domain without its own domain-config`))
			}
			configs = append([]*android.Config{nsc.Base}, configs...)
		}
		for _, c := range nsc.Domains {
			if c.Cleartext == nil || !*c.Cleartext {
				continue
			}
			sev, local := keep, true
			for _, d := range c.Domains {
				local = local && urls.IsLocal(d.Name)
			}
			if local && len(c.Domains) > 0 {
				sev = Info
			}
			r.add(newFinding("AND-CLEARTEXT-DOMAIN", sev, nscLoc(c.Element),
				"cleartext HTTP permitted for %s", domainList(c.Domains)))
		}
		for _, c := range configs {
			anchorFindings(r, c, now, nscLoc)
			if c.PinSet != nil && len(c.Domains) > 0 {
				pinFindings(r, app, c, opts, nscLoc)
				pinned = append(pinned, c.Domains...)
			}
		}
		if nsc.Debug != nil {
			switch {
			case m == nil:
				r.add(newFinding("AND-DEBUG-OVERRIDES", Info, nscLoc(nsc.Debug.Element),
					"<debug-overrides> present; it applies only if the app is debuggable (not known for a bare config)"))
			case m.Debuggable:
				r.add(newFinding("AND-DEBUG-OVERRIDES", High, nscLoc(nsc.Debug.Element),
					`<debug-overrides> present and android:debuggable="true": its trust anchors (and pin overrides) apply to this build`))
			default:
				r.add(newFinding("AND-DEBUG-OVERRIDES", Info, nscLoc(nsc.Debug.Element),
					"<debug-overrides> present; the app is not debuggable, so it has no effect"))
			}
		}
	}

	// Pinning coverage of first-party domains.
	if len(pinned) == 0 && len(firstParty(opts)) == 0 {
		loc := manifestLoc
		if nsc != nil {
			loc = nscLoc("network-security-config")
		}
		if app.Format == "nsc" || m == nil {
			loc = nscLoc("network-security-config")
		}
		r.add(newFinding("AND-NO-PINNING", keep, loc, "the app pins no domain in its Network Security Config"))
	}
	for _, host := range firstParty(opts) {
		if !coveredAndroid(pinned, host) {
			loc := manifestLoc
			if nsc != nil {
				loc = nscLoc("network-security-config")
			}
			r.add(newFinding("AND-NO-PINNING", keep, loc, "first-party domain %s is not covered by any <pin-set>", host))
		}
	}

	crossCheck(r, opts)
	urlFindings(r, "AND-HTTP-URL", app.File, app.URLs)
	r.sort()
	return r
}

// refusalFindings reports each reason Android refuses the config
// (XmlConfigSource, as read by android.ParseNSC). Inside
// <debug-overrides> it matters only for debuggable builds: Android skips
// that element otherwise.
func refusalFindings(r *Report, nsc *android.NSC, m *android.Manifest, loc func(string) Location) {
	for _, ref := range nsc.Refusals {
		sev, note := keep, ""
		if ref.DebugOnly {
			switch {
			case m == nil:
				note = " (inside <debug-overrides>: only debuggable builds parse it)"
			case m.Debuggable:
				note = " (inside <debug-overrides>, which this debuggable build parses)"
			default:
				sev, note = Info, " (inside <debug-overrides>: this build is not debuggable, so Android skips it; a debuggable build would fail)"
			}
		}
		r.add(newFinding("AND-NSC-INVALID", sev, loc(ref.Element), "%s: Android refuses the whole config and the app fails at start (XmlConfigSource.%s)%s",
			ref.Reason, ref.Rule, note))
	}
}

func domainList(ds []android.Domain) string {
	if len(ds) == 0 {
		return "(no <domain>)"
	}
	var parts []string
	for _, d := range ds {
		s := d.Name
		if d.IncludeSubdomains {
			s += " and its subdomains"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func anchorFindings(r *Report, c *android.Config, now time.Time, loc func(string) Location) {
	for _, a := range c.Anchors {
		el := c.AnchorsElement + "/certificates"
		switch {
		case a.Src == "user":
			r.add(newFinding("AND-USER-CA", keep, loc(el),
				`<certificates src="user"/> in %s: any CA the user (or an attacker with device access) installs can intercept this traffic`, c.Element))
		case a.IsRaw():
			sev := Info
			msg := fmt.Sprintf("bundled certificate %s trusted as an anchor", nonEmpty(a.File, a.Src))
			if a.Err != nil {
				msg += fmt.Sprintf(" (could not be read: %v)", a.Err)
			}
			for _, it := range a.Certs {
				if !it.NotAfter.IsZero() && it.NotAfter.Before(now) {
					sev = Medium
					msg += fmt.Sprintf("; %s expired on %s", nonEmpty(it.Subject, "its certificate"), it.NotAfter.Format("2006-01-02"))
				}
			}
			r.add(newFinding("AND-RAW-ANCHOR", sev, loc(el), "%s", msg))
		}
		if a.OverridePins != nil && *a.OverridePins {
			r.add(newFinding("AND-OVERRIDE-PINS", keep, loc(el),
				`<certificates src=%q overridePins="true"> in %s: chains ending at this anchor skip pinning`, a.Src, c.Element))
		}
	}
}

func nonEmpty(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

func pinFindings(r *Report, app *android.App, c *android.Config, opts Options, loc func(string) Location) {
	ps := c.PinSet
	now := opts.now()
	el := ps.Element
	for i, p := range ps.Pins {
		for _, d := range c.Domains {
			r.Pins = appendPin(r.Pins, EmbeddedPin{Host: d.Name, IncludeSubdomains: d.IncludeSubdomains, Pin: p.Pin, Source: "nsc",
				Location: loc(fmt.Sprintf("%s/pin[%d]", el, i+1))})
		}
	}
	valid := len(ps.Pins)
	if !ps.Expires.IsZero() {
		switch {
		case !now.Before(ps.Expires):
			r.add(newFinding("AND-PIN-EXPIRED", keep, loc(el),
				"pin-set for %s expired on %s: the platform no longer enforces these pins", domainList(c.Domains), ps.Expiration))
		case ps.Expires.Sub(now) <= opts.warn():
			r.add(newFinding("AND-PIN-EXPIRING", keep, loc(el),
				"pin-set for %s expires on %s, in %d days", domainList(c.Domains), ps.Expiration, int(ps.Expires.Sub(now).Hours()/24)))
		}
	}
	if valid == 1 {
		r.add(newFinding("AND-PIN-NO-BACKUP", keep, loc(el), "pin-set for %s has one pin: a key change bricks the connection", domainList(c.Domains)))
	}
	if ps.Written == 0 {
		r.add(newFinding("AND-PIN-INVALID", keep, loc(el), "pin-set for %s has no <pin>: Android enforces no pin for these domains", domainList(c.Domains)))
	}
}

func appendPin(list []EmbeddedPin, p EmbeddedPin) []EmbeddedPin {
	for _, q := range list {
		if q.Host == p.Host && q.Pin == p.Pin && q.Source == p.Source {
			return list
		}
	}
	return append(list, p)
}

// firstParty lists the domains that must be pinned: Options.FirstParty and
// the hosts of the expected manifest, normalised, sorted, each once.
func firstParty(opts Options) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		n, err := policy.NormalizeHost(h)
		if err != nil || seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n)
	}
	for _, h := range opts.FirstParty {
		add(h)
	}
	if opts.Expected != nil {
		for _, p := range opts.Expected.Policies() {
			if pat, err := policy.ParsePattern(p.Pattern, p.IncludeSubdomains); err == nil {
				add(pat.Base)
			}
		}
	}
	sort.Strings(out)
	return out
}

// coveredAndroid reports whether an NSC pin-set reaches host (exact domain,
// or any depth with includeSubdomains), using the policy matcher.
func coveredAndroid(pinned []android.Domain, host string) bool {
	for _, d := range pinned {
		pat, err := policy.ParsePattern(d.Name, d.IncludeSubdomains)
		if err != nil {
			continue
		}
		if _, ok := pat.Reach(host); ok {
			return true
		}
	}
	return false
}
