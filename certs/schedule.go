package certs

import (
	"fmt"
	"time"
)

// Plan says when a certificate is to be renewed, and why.
type Plan struct {
	// At is the renewal time.
	At time.Time
	// Source is "ari" (inside the CA's window) or "two-thirds" (two
	// thirds of the lifetime, when the CA offers no usable window).
	Source string
	// Due reports whether At is not after now.
	Due bool
	// Note, when set, says why a window the CA gave was not used.
	Note string
}

// Schedule plans the renewal of a certificate valid from notBefore to
// notAfter. With a usable ARI window the time is start + pick × (end −
// start): RFC 9773 §4.2 asks for a random time in the window so that
// clients do not all come at once; pick is that random number in [0, 1)
// (injected, so Schedule is a pure function). A window that has passed
// means now. Without a window, or with one that ends before it starts,
// the time is two thirds of the lifetime.
func Schedule(notBefore, notAfter time.Time, ari *RenewalInfo, now time.Time, pick float64) Plan {
	pick = max(0, min(pick, 1))
	var note string
	if ari != nil {
		if ari.End.After(ari.Start) {
			at := ari.Start.Add(time.Duration(pick * float64(ari.End.Sub(ari.Start))))
			if ari.End.Before(now) {
				at = now
			}
			return Plan{At: at, Source: "ari", Due: !now.Before(at)}
		}
		note = fmt.Sprintf("the CA's renewal window ends (%s) before it starts (%s); it was ignored", ari.End.UTC().Format(time.RFC3339), ari.Start.UTC().Format(time.RFC3339))
	}
	at := notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
	return Plan{At: at, Source: "two-thirds", Due: !now.Before(at), Note: note}
}
