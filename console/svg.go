package console

import (
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/store"
)

// chart is an SVG drawn on the server. Every text in it is escaped here;
// colours come from classes in console.css (no style attributes, which
// the Content-Security-Policy would refuse).
type chart = template.HTML

func esc(s string) string { return html.EscapeString(s) }

// dailyChart draws events per UTC day in [since, until) as bars.
func dailyChart(days []store.Count, since, until time.Time) chart {
	var keys []string
	for d := since; d.Before(until); d = d.AddDate(0, 0, 1) {
		keys = append(keys, d.Format("2006-01-02"))
	}
	vals := map[string]int64{}
	var peak int64
	for _, c := range days {
		vals[c.Key] = c.Events
		peak = max(peak, c.Events)
	}
	const w, h, left, bottom, top = 720, 180, 48, 24, 10
	bw := float64(w-left) / float64(max(len(keys), 1))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title"><title id="chart-title">Pin-failure events per day, %s to %s</title>`,
		w, h, esc(keys[0]), esc(keys[len(keys)-1]))
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, h-bottom, w, h-bottom)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%d</text>`, left-6, top+8, peak)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">0</text>`, left-6, h-bottom)
	for i, k := range keys {
		v := vals[k]
		bh := 0.0
		if peak > 0 {
			bh = float64(h-bottom-top) * float64(v) / float64(peak)
		}
		x := float64(left) + float64(i)*bw
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
			x+1, float64(h-bottom)-bh, bw-2, bh, esc(k), v)
		if i%7 == 0 || (i == len(keys)-1 && i%7 >= 4) {
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d">%s</text>`, x, h-6, esc(k[5:]))
		}
	}
	b.WriteString(`</svg>`)
	return chart(b.String())
}

// timeline draws one address's recent rounds as a strip of cells.
func timeline(pts []timelinePoint) chart {
	if len(pts) == 0 {
		return chart(`<span class="muted">no history</span>`)
	}
	const cw, h = 8, 18
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" viewBox="0 0 %d %d" width="%d" height="%d" role="img"><title>%d monitor rounds, oldest first</title>`,
		cw*len(pts), h, cw*len(pts), h, len(pts))
	for i, p := range pts {
		fmt.Fprintf(&b, `<rect class="tl-%s" x="%d" y="0" width="%d" height="%d"><title>%s: %s</title></rect>`,
			esc(p.Verdict), i*cw, cw-1, h, esc(fmtTime(p.Time)), esc(p.Verdict))
	}
	b.WriteString(`</svg>`)
	return chart(b.String())
}

// gaugeChart draws a plan's adoption of its next pin against the
// threshold.
func gaugeChart(adoption, threshold float64) chart {
	const w, h = 320, 28
	fill := max(0, min(1, adoption)) * w
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="gauge" viewBox="0 0 %d %d" role="img"><title>adoption %.1f%%, threshold %.1f%%</title>`, w, h, 100*adoption, 100*threshold)
	fmt.Fprintf(&b, `<rect class="gauge-bg" x="0" y="4" width="%d" height="16"/>`, w)
	fmt.Fprintf(&b, `<rect class="gauge-fill" x="0" y="4" width="%.1f" height="16"/>`, fill)
	fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" y1="0" x2="%.1f" y2="%d"/>`, threshold*w, threshold*w, h)
	b.WriteString(`</svg>`)
	return chart(b.String())
}

// versionChart draws the active installs per manifest version.
func versionChart(vs []store.VersionCount) chart {
	if len(vs) == 0 {
		return chart(`<p class="muted">No install has fetched a manifest within the adoption window yet.</p>`)
	}
	var peak int64
	for _, v := range vs {
		peak = max(peak, v.Clients)
	}
	const w, row = 480, 22
	h := row * len(vs)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart small" viewBox="0 0 %d %d" role="img"><title>Active installs per manifest version</title>`, w, h)
	for i, v := range vs {
		bw := 0.0
		if peak > 0 {
			bw = float64(w-160) * float64(v.Clients) / float64(peak)
		}
		y := i * row
		name := "v" + strconv.FormatInt(v.ManifestVersion, 10)
		if v.ManifestVersion == 0 {
			name = "none yet"
		}
		fmt.Fprintf(&b, `<text class="label" x="0" y="%d">%s</text>`, y+15, esc(name))
		fmt.Fprintf(&b, `<rect class="bar" x="80" y="%d" width="%.1f" height="%d"/>`, y+3, bw, row-6)
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%d">%d</text>`, 86+bw, y+15, v.Clients)
	}
	b.WriteString(`</svg>`)
	return chart(b.String())
}

// stateChart draws a plan's states over time from its audit trail: the
// rotation's progress, one band per state.
func stateChart(audit []store.AuditEntry, now time.Time) chart {
	if len(audit) == 0 {
		return ""
	}
	start := audit[0].At
	span := now.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	const w, h = 720, 34
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img"><title>Plan states from %s to now</title>`, w, h, esc(fmtTime(start)))
	for i, a := range audit {
		end := now
		if i+1 < len(audit) {
			end = audit[i+1].At
		}
		x := float64(w) * float64(a.At.Sub(start)) / float64(span)
		x2 := float64(w) * float64(end.Sub(start)) / float64(span)
		state := a.To
		fmt.Fprintf(&b, `<rect class="st-%s" x="%.1f" y="0" width="%.1f" height="18"><title>%s from %s</title></rect>`,
			esc(cssName(state)), x, max(x2-x, 1), esc(state), esc(fmtTime(a.At)))
		if x2-x > 60 {
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="31">%s</text>`, x+2, esc(state))
		}
	}
	b.WriteString(`</svg>`)
	return chart(b.String())
}

func cssName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r == '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func init() { funcs["timeline"] = timeline }

func init() { funcs["pages"] = func(n int) []struct{} { return make([]struct{}, n) } }

// maxCurvePoints is how many samples of an adoption curve get a marker
// with its own tooltip; beyond, the line alone is drawn.
const maxCurvePoints = 60

// adoptionCurve draws a rotation plan's stored adoption of its next pin
// over time (oldest first), against the plan's threshold.
func adoptionCurve(samples []store.AdoptionSample, threshold float64) chart {
	if len(samples) == 0 {
		return chart(`<p class="muted">No adoption sample yet: the service stores one as the plan steps (every 10 minutes at most, ` +
			`rotation.sample_interval).</p>`)
	}
	first, last := samples[0].At, samples[len(samples)-1].At
	span := last.Sub(first)
	const w, h, left, right, top, bottom = 720, 200, 44, 12, 10, 24
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return float64(left) + pw
		}
		return float64(left) + pw*float64(t.Sub(first))/float64(span)
	}
	y := func(f float64) float64 { return float64(top) + ph*(1-max(0, min(1, f))) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart curve" viewBox="0 0 %d %d" role="img"><title>Adoption of the next pin from %s to %s: %d samples, threshold %.1f%%</title>`,
		w, h, esc(fmtTime(first)), esc(fmtTime(last)), len(samples), 100*threshold)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, h-bottom, w-right, h-bottom)
	for _, f := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%.1f" text-anchor="end">%d%%</text>`, left-6, y(f)+4, int(100*f))
	}
	fmt.Fprintf(&b, `<line class="threshold" x1="%d" y1="%.1f" x2="%d" y2="%.1f"><title>threshold %.1f%%</title></line>`,
		left, y(threshold), w-right, y(threshold), 100*threshold)
	b.WriteString(`<polyline class="curve-line" points="`)
	for i, s := range samples {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x(s.At), y(s.Fraction()))
	}
	b.WriteString(`"/>`)
	if len(samples) <= maxCurvePoints {
		for _, s := range samples {
			fmt.Fprintf(&b, `<circle class="curve-point" cx="%.1f" cy="%.1f" r="3"><title>%s: %.1f%% (%d of %d)</title></circle>`,
				x(s.At), y(s.Fraction()), esc(fmtTime(s.At)), 100*s.Fraction(), s.Clients, s.Active)
		}
	}
	fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">%s</text>`, left, h-6, esc(fmtTime(first)))
	if span > 0 {
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, w-right, h-6, esc(fmtTime(last)))
	}
	b.WriteString(`</svg>`)
	return chart(b.String())
}
