package fleet

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// WriteSVG draws r as a self-contained SVG: the fraction of installs
// holding the next pin, the adoption the service measured, and bricked
// installs (right axis), over the simulated days, with the announcement
// and the switch marked.
func (r *Result) WriteSVG(w io.Writer) error {
	const W, H, L, R, T, B = 900.0, 420.0, 60.0, 70.0, 40.0, 50.0
	pw, ph := W-L-R, H-T-B
	n := len(r.Hourly)
	if n == 0 {
		return fmt.Errorf("no hours to plot")
	}
	x := func(h int) float64 { return L + pw*float64(h)/float64(max(1, n-1)) }
	y := func(f float64) float64 { return T + ph*(1-f) }
	maxB := int64(1)
	for _, hr := range r.Hourly {
		maxB = max(maxB, hr.Bricked)
	}
	yb := func(b int64) float64 { return T + ph*(1-float64(b)/float64(maxB)) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := fmt.Sprintf("%d installs, gate %v (threshold %g, hold-down %s): %d bricked installs, %d bricked install-hours",
		r.Installs, r.Gate, r.Threshold, r.HoldDown, r.BrickedInstalls, r.BrickedInstallHours)
	fmt.Fprintf(&sb, `<text x="%g" y="20">%s</text>`+"\n", L, html.EscapeString(title))
	// Axes and grid.
	for i := 0; i <= 10; i += 2 {
		f := float64(i) / 10
		fmt.Fprintf(&sb, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" text-anchor="end">%d%%</text>`+"\n", L, y(f), L+pw, y(f), L-6, y(f)+4, i*10)
		fmt.Fprintf(&sb, `<text x="%g" y="%.1f" fill="#c00">%d</text>`+"\n", L+pw+6, y(f)+4, int64(f*float64(maxB)))
	}
	days := n / 24
	step := max(1, days/10)
	for d := 0; d <= days; d += step {
		fmt.Fprintf(&sb, `<text x="%.1f" y="%g" text-anchor="middle">%d</text>`+"\n", x(d*24), T+ph+18, d)
	}
	fmt.Fprintf(&sb, `<text x="%g" y="%g" text-anchor="middle">days</text>`+"\n", L+pw/2, H-8)
	fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="black"/>`+"\n", L, T, pw, ph)
	mark := func(h int, label string) {
		if h >= 0 && h < n {
			fmt.Fprintf(&sb, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#888" stroke-dasharray="4 3"/><text x="%.1f" y="%g" fill="#555">%s</text>`+"\n", x(h), T, x(h), T+ph, x(h)+3, T+12, label)
		}
	}
	mark(r.AnnouncedHour, "announced")
	mark(r.SwitchHour, "switch")
	line := func(color string, val func(Hour) float64) {
		sb.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + color + `" points="`)
		for i, hr := range r.Hourly {
			fmt.Fprintf(&sb, "%.1f,%.1f", x(i), val(hr))
			if i < n-1 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString("\"/>\n")
	}
	line("#06c", func(h Hour) float64 { return y(h.NextPin) })
	line("#090", func(h Hour) float64 { return y(h.Measured) })
	line("#c00", func(h Hour) float64 { return yb(h.Bricked) })
	legend := []struct{ c, t string }{{"#06c", "installs holding the next pin"}, {"#090", "adoption measured by the service (active installs)"}, {"#c00", "bricked installs (right axis)"}}
	for i, l := range legend {
		fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="12" height="3" fill="%s"/><text x="%g" y="%g">%s</text>`+"\n", L+10, T+ph-50+float64(i)*15, l.c, L+26, T+ph-45+float64(i)*15, l.t)
	}
	sb.WriteString("</svg>\n")
	_, err := io.WriteString(w, sb.String())
	return err
}
