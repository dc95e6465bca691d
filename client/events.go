package client

import (
	"fmt"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/redact"
)

// EventKind says what happened.
type EventKind int

// The events a client reports through [Config.OnEvent].
const (
	// EventUpdated: a new root or manifest was verified and is now enforced
	// (or, at start, the state the client starts from was chosen).
	EventUpdated EventKind = iota + 1
	// EventRejected: a fetched or cached document, or a fetch itself, failed;
	// Reason and Err say why. The client keeps its last valid state and
	// retries with backoff.
	EventRejected
	// EventStale: the enforced manifest is past its expiry and no newer one
	// could be had. It keeps being enforced; pinning never fails open.
	EventStale
	// EventPinFailure: a connection presented no pinned key. Failure holds
	// the details; for a report-only host the connection went ahead.
	EventPinFailure
	// EventReportSent: a pin-failure report was accepted by its endpoint.
	EventReportSent
	// EventReportDropped: a report was not sent (queue full, no report URI,
	// or the endpoint failed); Reason says which. Duplicates within 24
	// hours are not events.
	EventReportDropped
	// EventDiscarded: part of something untrusted was dropped and the
	// client carries on with the rest: an ETag that is not a bounded strong
	// tag (from the network or the cache), or cache entries that failed
	// their checks while the documents before them still verified. Reason
	// says what was dropped and what was kept.
	EventDiscarded
	// EventOverdue: no refresh has succeeded for longer than
	// Config.OverdueAfter. The pins in force stay enforced; something may
	// be blocking updates (a freeze), so tell someone before the manifest
	// expires.
	EventOverdue
	// EventHealed: a connection refused for a pin mismatch (an
	// EventPinFailure, with its report, came first) succeeded on a second
	// handshake after a refresh put a newer manifest in force (the
	// self-heal, Config.NoHealOnFailure). Host and Port name it.
	EventHealed
	// EventDevice: the device certificate (Config.Device) was enrolled or
	// renewed, or that failed (Err), or a stored one was ignored. Reason
	// says which; it never holds the key or the enrollment token.
	EventDevice
)

var eventNames = map[EventKind]string{
	EventUpdated:       "updated",
	EventRejected:      "rejected",
	EventStale:         "stale",
	EventPinFailure:    "pin-failure",
	EventReportSent:    "report-sent",
	EventReportDropped: "report-dropped",
	EventDiscarded:     "discarded",
	EventOverdue:       "overdue",
	EventHealed:        "healed",
	EventDevice:        "device",
}

// String returns the event's name as logs and the mobile API spell it.
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one thing that happened in a client. Fields that do not apply to
// a kind are zero.
type Event struct {
	Kind EventKind
	Time time.Time
	// Source is where the rejected or updating document came from:
	// "bundled", "cache" or "network".
	Source string
	// Reason is a one-line description for people and logs.
	Reason string
	// Err is the underlying error of a rejected event or dropped report.
	Err error
	// RootVersion and ManifestVersion describe the state in force after the
	// event.
	RootVersion     int64
	ManifestVersion int64
	// Host and Port name the connection of a pin failure or the host a
	// report is about; ReportURL is where the report went.
	Host      string
	Port      int
	ReportURL string
	// Failure is the pin failure itself, for EventPinFailure.
	Failure *enforce.Failure
}

// String renders the event on one line.
func (e Event) String() string {
	s := e.Kind.String()
	if e.Source != "" {
		s += " [" + e.Source + "]"
	}
	if e.Host != "" {
		s += fmt.Sprintf(" %s:%d", e.Host, e.Port)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// emit stamps and delivers an event to the configured callback and logger.
// It is the one place events leave the client, so it is where URLs in them
// lose their user info and query strings (redact.Text): a ServiceURL or
// report URI with credentials never reaches an app's logs.
func (c *Client) emit(e Event) {
	e.Reason = redact.Text(e.Reason)
	e.Err = redact.Error(e.Err)
	e.ReportURL = redact.URL(e.ReportURL)
	if e.Time.IsZero() {
		e.Time = c.now()
	}
	if e.RootVersion == 0 && e.ManifestVersion == 0 {
		if st := c.state.Load(); st != nil {
			e.RootVersion, e.ManifestVersion = st.rootVersion, st.manifestVersion
		}
	}
	if c.log != nil {
		attrs := []any{"event", e.Kind.String(), "root_version", e.RootVersion, "manifest_version", e.ManifestVersion}
		if e.Source != "" {
			attrs = append(attrs, "source", e.Source)
		}
		if e.Host != "" {
			attrs = append(attrs, "host", e.Host, "port", e.Port)
		}
		if e.Err != nil {
			attrs = append(attrs, "err", e.Err.Error())
		}
		switch e.Kind {
		case EventRejected, EventPinFailure, EventStale, EventDiscarded, EventOverdue:
			c.log.Warn("pinset: "+e.Reason, attrs...)
		default:
			c.log.Info("pinset: "+e.Reason, attrs...)
		}
	}
	if c.onEvent != nil {
		c.onEvent(e)
	}
}
