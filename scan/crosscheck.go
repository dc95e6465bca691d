package scan

import (
	"context"
	"fmt"

	"pinset.dev/pinset/pin"
)

// crossCheck compares every embedded pin with the signed pin manifest
// (Options.Expected) and the live verified chain (Options.Live). A pin
// that matches neither is a finding: at best dead weight, at worst the pin
// that bricks the app at the next rotation.
func crossCheck(r *Report, opts Options) {
	if opts.Expected == nil && opts.Live == nil {
		return
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	type live struct {
		pins []pin.Pin
		err  error
	}
	cache := map[string]live{}
	for _, ep := range r.Pins {
		var why []string
		if opts.Expected != nil {
			pol, ok := opts.Expected.Match(ep.Host)
			switch {
			case !ok:
				why = append(why, "the pin manifest has no policy for "+ep.Host)
			case pin.Contains(pol.Pins, ep.Pin):
				continue
			default:
				why = append(why, fmt.Sprintf("not among the %d pins the manifest lists for %s (pattern %s)", len(pol.Pins), ep.Host, pol.Pattern))
			}
		}
		liveAnswered := false
		if opts.Live != nil {
			l, ok := cache[ep.Host]
			if !ok {
				l.pins, l.err = opts.Live(ctx, ep.Host)
				cache[ep.Host] = l
			}
			if l.err == nil {
				liveAnswered = true
				if pin.Contains(l.pins, ep.Pin) {
					continue
				}
				why = append(why, fmt.Sprintf("not in the verified chain %s serves now", ep.Host))
			} else {
				why = append(why, fmt.Sprintf("live check of %s failed: %v", ep.Host, l.err))
			}
		}
		id := "PIN-UNMATCHED"
		if opts.Expected == nil && !liveAnswered {
			id = "PIN-UNCHECKED"
		}
		msg := fmt.Sprintf("%s pin %s for %s", ep.Source, ep.Pin, ep.Host)
		for _, w := range why {
			msg += "; " + w
		}
		r.add(newFinding(id, keep, ep.Location, "%s", msg))
	}
}
