package android

import (
	"errors"
	"fmt"
	"time"
	"unicode"
)

// This file reads values as the platform does. Sources (AOSP
// platform_frameworks_base): core/java/android/security/net/config/
// XmlConfigSource.java, Pin.java; core/java/android/util/Base64.java; and
// libcore's java.text.SimpleDateFormat (OpenJDK's, since Android 7.0).

// ParseExpiration reads a <pin-set expiration> as XmlConfigSource.parsePinSet
// does: new SimpleDateFormat("yyyy-MM-dd"), setLenient(false), then
// parse(String), which reads from the start and ignores whatever follows
// the date ("2025-01-01T12:00" is 2025-01-01). Before each number, spaces
// and tabs are skipped; a number is any run of decimal digits (any
// script's, as DecimalFormat reads them); "yyyy" takes the year literally
// ("27-06-30" is the year 27); "MM" and "dd" need not have two digits
// ("2027-6-30"). Not lenient: month 1 to 12, a day that exists in that
// month (Julian leap years before 1583, as GregorianCalendar), year 1 or
// later. The result is midnight UTC of that date (a Julian 29 February
// before 1583 that Go's Gregorian calendar lacks becomes the 28th); Android
// takes midnight in the device's zone.
func ParseExpiration(s string) (time.Time, error) {
	rs := []rune(s)
	i := 0
	number := func() (int, bool) {
		for i < len(rs) && (rs[i] == ' ' || rs[i] == '\t') {
			i++
		}
		n, digits := 0, 0
		for ; i < len(rs); i++ {
			d, ok := digitValue(rs[i])
			if !ok {
				break
			}
			if digits++; digits > 9 {
				return 0, false // beyond int: not modelled, refused below
			}
			n = n*10 + d
		}
		return n, digits > 0
	}
	literal := func(c rune) bool {
		if i < len(rs) && rs[i] == c {
			i++
			return true
		}
		return false
	}
	y, ok1 := number()
	ok2 := ok1 && literal('-')
	m, ok3 := 0, false
	if ok2 {
		m, ok3 = number()
	}
	ok4 := ok3 && literal('-')
	d, ok5 := 0, false
	if ok4 {
		d, ok5 = number()
	}
	if !ok5 {
		return time.Time{}, errors.New("not a date in the form yyyy-MM-dd")
	}
	switch {
	case y < 1:
		return time.Time{}, fmt.Errorf("year %d is before year 1", y)
	case m < 1 || m > 12:
		return time.Time{}, fmt.Errorf("month %d does not exist", m)
	case d < 1 || d > daysIn(y, m):
		return time.Time{}, fmt.Errorf("day %d does not exist in %04d-%02d", d, y, m)
	}
	// Go's calendar is proleptic Gregorian: a Julian leap day (year 100,
	// say) is kept in its month, as the last day.
	gregorian := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(y, time.Month(m), min(d, gregorian), 0, 0, 0, 0, time.UTC), nil
}

func daysIn(y, m int) int {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		leap := y%4 == 0
		if y > 1582 {
			leap = leap && (y%100 != 0 || y%400 == 0)
		}
		if leap {
			return 29
		}
		return 28
	}
	return 31
}

// digitValue is Character.digit(r, 10) for decimal digits: ASCII, and the
// ten consecutive digits of every other script.
func digitValue(r rune) (int, bool) {
	if '0' <= r && r <= '9' {
		return int(r - '0'), true
	}
	if !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10, true
}

// DecodeBase64 decodes a pin digest as android.util.Base64.decode(s,
// DEFAULT) does: bytes outside the standard alphabet (whitespace, any other
// character) are skipped; padding is optional, but when present it must be
// complete and last; a single leftover character is an error.
func DecodeBase64(s string) ([]byte, bool) {
	var out []byte
	state, value := 0, 0
	for _, c := range []byte(s) { // the default charset, UTF-8
		d := base64Value(c)
		switch {
		case d >= 0 && state <= 3:
			value = value<<6 | d
			if state++; state == 4 {
				out = append(out, byte(value>>16), byte(value>>8), byte(value))
				state, value = 0, 0
			}
		case d == -1: // skipped
		case d == -2 && state == 2: // "xx=": one more '=' must follow
			out = append(out, byte(value>>4))
			state = 4
		case d == -2 && state == 3: // "xxx=": the end
			out = append(out, byte(value>>10), byte(value>>2))
			state = 5
		case d == -2 && state == 4:
			state = 5
		default:
			return nil, false
		}
	}
	switch state {
	case 1, 4:
		return nil, false
	case 2:
		out = append(out, byte(value>>4))
	case 3:
		out = append(out, byte(value>>10), byte(value>>2))
	}
	return out, true
}

// base64Value is Base64.Decoder.DECODE: the value of c, -2 for '=', -1
// (skip) for anything else.
func base64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	case c == '=':
		return -2
	}
	return -1
}
