package export

import (
	"fmt"
	"time"
)

// Pin-set expiration dates, as the platforms read them.
//
// Android's Network Security Config (AOSP XmlConfigSource.parsePinSet:
// new SimpleDateFormat("yyyy-MM-dd"), setLenient(false), no time zone set,
// so the device's default zone) and TrustKit-Android
// (TrustKitConfigurationParser.readPinSet: the same, Locale.US) read the
// date as 00:00 on that day in the DEVICE's time zone. TrustKit for iOS
// (parse_configuration.m: NSDateFormatter "yyyy-MM-dd" with
// timeZoneForSecondsFromGMT:0) reads it as 00:00 UTC. All of them stop
// enforcing once that instant is in the past (AOSP: expirationTime <
// now; TrustKit-Android PinningTrustManager: getExpirationDate() before
// new Date(); TrustKit TSKPinningValidator: expirationDate compared
// NSOrderedAscending with [NSDate date]). So a pin set "expiring on D"
// is NOT enforced on D at all, and on a device at UTC+14 it stops at 10:00
// UTC the day before.
//
// pinset therefore takes the instant until which the pins must be enforced
// (Input.Expiration) and writes the first date whose start, in the
// earliest time zone the platform may use, is not before it.

// Civil time zones span UTC-12:00 (Baker Island) to UTC+14:00 (Kiribati,
// Line Islands). A device may be set to any of them.
const (
	earliestZone = 14 * time.Hour // midnight comes first at UTC+14
	latestZone   = 12 * time.Hour // and last at UTC-12
)

// expiryRule is how one platform reads a yyyy-MM-dd expiration.
type expiryRule struct {
	Platform   string
	DeviceZone bool // true: 00:00 in the device's zone; false: 00:00 UTC
}

var (
	expiryAndroid         = expiryRule{Platform: "Android NSC", DeviceZone: true}
	expiryTrustKitIOS     = expiryRule{Platform: "TrustKit (iOS)", DeviceZone: false}
	expiryTrustKitAndroid = expiryRule{Platform: "TrustKit-Android", DeviceZone: true}
)

// stops returns the earliest and latest instants at which devices reading
// date under r stop enforcing the pins.
func (r expiryRule) stops(date time.Time) (earliest, latest time.Time) {
	day := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
	if !r.DeviceZone {
		return day, day
	}
	return day.Add(-earliestZone), day.Add(latestZone)
}

// dateFor returns the first date whose pins every device following r still
// enforces at until: the earliest stop of that date is not before until.
func (r expiryRule) dateFor(until time.Time) time.Time {
	d := until.UTC().Truncate(24 * time.Hour) // 00:00 UTC of until's UTC day
	for {
		if first, _ := r.stops(d); !first.Before(until) {
			return d
		}
		d = d.AddDate(0, 0, 1)
	}
}

// enforcedAt reports whether a device in the zone offset (seconds east of
// UTC) enforces a pin set expiring on date at now, under r.
func (r expiryRule) enforcedAt(date time.Time, offset int, now time.Time) bool {
	zone := time.UTC
	if r.DeviceZone {
		zone = time.FixedZone("device", offset)
	}
	stop := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, zone)
	return !now.After(stop) // expired only when the stop is before now
}

// expiration returns the yyyy-MM-dd date to write under r, or "" when no
// expiration was asked for, and notes how it was chosen in the header.
func (p *prepared) expiration(r expiryRule) string {
	if p.Expiration.IsZero() {
		return ""
	}
	d := r.dateFor(p.Expiration)
	first, last := r.stops(d)
	zone := "00:00 UTC on that day"
	if r.DeviceZone {
		zone = "00:00 on that day in the device's time zone"
	}
	note := fmt.Sprintf("Pin sets expire on %s: %s stops enforcing them at %s (%s to %s), chosen so that every device enforces them until %s.",
		d.Format(time.DateOnly), r.Platform, zone,
		first.Format("2006-01-02 15:04 UTC"), last.Format("2006-01-02 15:04 UTC"), p.until())
	if first.Equal(last) {
		note = fmt.Sprintf("Pin sets expire on %s: %s stops enforcing them at %s, chosen so that the pins are enforced until %s.",
			d.Format(time.DateOnly), r.Platform, zone, p.until())
	}
	p.notes = append(p.notes, note)
	return d.Format(time.DateOnly)
}

// until spells Input.Expiration for messages.
func (p *prepared) until() string {
	return p.Expiration.UTC().Format("2006-01-02 15:04 UTC")
}
