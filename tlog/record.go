package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a node or leaf hash of the tree (SHA-256).
type Hash = tlog.Hash

// Kinds of logged documents.
const (
	KindRoot     = "root"
	KindManifest = "manifest"
)

// recordHeader is the first line of every record.
const recordHeader = "pinset-log-record/v1"

// MaxRecordSize bounds a record (they are about 200 bytes).
const MaxRecordSize = 1024

// MaxAppIDLen bounds an app id (trust.MaxAppIDLen is this constant).
const MaxAppIDLen = 128

// maxVersion matches trust.MaxVersion.
const maxVersion = 1<<53 - 1

// Record is one log entry: which envelope was accepted, and when. The
// envelope itself is not in the log (an envelope may be up to 1 MiB, and
// C2SP entry bundles hold entries of at most 64 KiB); its SHA-256 binds the
// record to the exact bytes a client verifies.
//
// Encoded, a record is six lines, each ending in "\n":
//
//	pinset-log-record/v1
//	app com.example.app
//	kind manifest
//	version 7
//	sha256 <64 lower-case hex digits>
//	time 2026-01-01T00:00:00Z
type Record struct {
	App     string
	Kind    string // KindRoot or KindManifest
	Version uint64
	SHA256  [32]byte // of the exact envelope bytes
	Time    time.Time
}

// NewRecord returns the record of envelope for app.
func NewRecord(app, kind string, version uint64, envelope []byte, t time.Time) Record {
	return Record{App: app, Kind: kind, Version: version, SHA256: sha256.Sum256(envelope), Time: t.UTC().Truncate(time.Second)}
}

// Marshal encodes r. It fails on a record ParseRecord would refuse.
func (r Record) Marshal() ([]byte, error) {
	b := fmt.Appendf(nil, "%s\napp %s\nkind %s\nversion %d\nsha256 %s\ntime %s\n",
		recordHeader, r.App, r.Kind, r.Version, hex.EncodeToString(r.SHA256[:]), r.Time.UTC().Format(time.RFC3339))
	if _, err := ParseRecord(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Matches reports whether r is the record of envelope (app, kind, version
// and the envelope's hash; not the time).
func (r Record) Matches(app, kind string, version uint64, envelope []byte) bool {
	return r.App == app && r.Kind == kind && r.Version == version && r.SHA256 == sha256.Sum256(envelope)
}

// ParseRecord decodes a record strictly: exactly the six lines in order,
// single spaces, no leading zeros, a valid app id, lower-case hex, a time
// in UTC with whole seconds. Errors wrap ErrMalformed.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if len(b) > MaxRecordSize {
		return r, malformed("record", "%d bytes, over the cap of %d", len(b), MaxRecordSize)
	}
	lines, err := splitLines("record", b, 6)
	if err != nil {
		return r, err
	}
	if lines[0] != recordHeader {
		return r, malformed("record", "first line %q, expected %q", lines[0], recordHeader)
	}
	app, err := field("record", lines[1], "app")
	if err != nil {
		return r, err
	}
	if !ValidAppID(app) {
		return r, malformed("record", "app id %q", app)
	}
	r.App = app
	if r.Kind, err = field("record", lines[2], "kind"); err != nil {
		return r, err
	}
	if r.Kind != KindRoot && r.Kind != KindManifest {
		return r, malformed("record", "kind %q, expected root or manifest", r.Kind)
	}
	v, err := field("record", lines[3], "version")
	if err != nil {
		return r, err
	}
	if r.Version, err = parseUint("record", v); err != nil {
		return r, err
	}
	if r.Version < 1 || r.Version > maxVersion {
		return r, malformed("record", "version %d out of range", r.Version)
	}
	h, err := field("record", lines[4], "sha256")
	if err != nil {
		return r, err
	}
	if len(h) != 64 || !isLowerHex(h) {
		return r, malformed("record", "sha256 %q: expected 64 lower-case hex digits", h)
	}
	hex.Decode(r.SHA256[:], []byte(h))
	ts, err := field("record", lines[5], "time")
	if err != nil {
		return r, err
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil || t.Format(time.RFC3339) != ts || ts[len(ts)-1] != 'Z' {
		return r, malformed("record", "time %q: expected RFC 3339 UTC with whole seconds", ts)
	}
	r.Time = t.UTC()
	return r, nil
}

// splitHead splits a body of at most max bytes made of header lines, an
// empty line and a checkpoint (the layout of proof bundles and of
// add-checkpoint requests). count refuses a number of header lines before
// any is read; the lines are then split as by splitLines.
func splitHead(what string, data []byte, max int, count func(n int) error) (lines []string, checkpoint []byte, err error) {
	if len(data) > max {
		return nil, nil, malformed(what, "%d bytes, over the cap of %d", len(data), max)
	}
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, nil, malformed(what, "no empty line before the checkpoint")
	}
	n := bytes.Count(head, []byte("\n")) + 1
	if err := count(n); err != nil {
		return nil, nil, err
	}
	lines, err = splitLines(what, append(head[:len(head):len(head)], '\n'), n)
	if err != nil {
		return nil, nil, err
	}
	return lines, cp, nil
}

// splitLines splits b into exactly n lines, each ending in "\n", with no
// empty line.
func splitLines(what string, b []byte, n int) ([]string, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, malformed(what, "does not end with a newline")
	}
	parts := bytes.Split(b[:len(b)-1], []byte("\n"))
	if len(parts) != n {
		return nil, malformed(what, "%d lines, expected %d", len(parts), n)
	}
	out := make([]string, n)
	for i, p := range parts {
		if len(p) == 0 {
			return nil, malformed(what, "line %d is empty", i+1)
		}
		for _, c := range p {
			if c < 0x21 && c != ' ' || c > 0x7e {
				return nil, malformed(what, "line %d: byte 0x%02x is not printable ASCII", i+1, c)
			}
		}
		out[i] = string(p)
	}
	return out, nil
}

// field returns the value of a line "name value".
func field(what, line, name string) (string, error) {
	v, ok := bytes.CutPrefix([]byte(line), []byte(name+" "))
	if !ok || len(v) == 0 || bytes.ContainsRune(v, ' ') {
		return "", malformed(what, "line %q: expected %q and one value", line, name+" ")
	}
	return string(v), nil
}

// parseUint parses a decimal without sign or leading zeros, at most 2^63-1.
func parseUint(what, s string) (uint64, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, malformed(what, "number %q", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, malformed(what, "number %q", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, malformed(what, "number %q", s)
	}
	return n, nil
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidAppID reports whether s is a valid app id: 1 to MaxAppIDLen
// characters of A-Z a-z 0-9 . _ - (it appears in URL paths of the pin
// service). It is the one app-id check, here because records carry app
// ids and trust imports tlog; trust.ValidAppID is this function.
func ValidAppID(s string) bool {
	if len(s) == 0 || len(s) > MaxAppIDLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// RecordHash is the RFC 6962 leaf hash of a record: SHA-256(0x00 || record).
func RecordHash(record []byte) Hash { return tlog.RecordHash(record) }
