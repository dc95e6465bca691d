package trust

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Strict JSON.
//
// Signed bytes are read with a small parser of its own rather than
// encoding/json, which accepts duplicate keys (the last wins), matches field
// names case-insensitively, replaces invalid UTF-8 and lone surrogates with
// U+FFFD and reads numbers as floats: each of these lets a verifier read
// something other than what a person reviewed and signed. This parser
// builds a small tree and refuses, with the offset and the JSON path:
//
//   - input over the size cap, invalid UTF-8, a byte order mark;
//   - duplicate keys (compared after unescaping), lone surrogates, control
//     characters in strings;
//   - numbers with a fraction or exponent, leading zeros, or more than 16
//     digits (versions stay exact in every language's doubles);
//   - nesting deeper than maxDepth, and anything after the top value.
//
// The schema layer (object) then refuses unknown fields and case-variant
// field names, and checks every type.

// maxDepth bounds nesting; pinset's documents are 4 levels deep.
const maxDepth = 16

// maxIntDigits bounds integer literals (2^53-1 has 16 digits).
const maxIntDigits = 16

// jkind is the kind of a JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jInt
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	return [...]string{"null", "boolean", "integer", "string", "array", "object"}[k]
}

// jvalue is a parsed JSON value. The values of one document are allocated
// in blocks and their strings are substrings of one copy of the input, so
// a document costs a handful of allocations, not a few per value.
type jvalue struct {
	off  int32 // offset in the input (inputs are capped far below 2 GiB)
	kind jkind
	b    bool
	s    string    // string value, or the integer's digits
	kids []jmember // array elements, or object members in order
}

// jmember is an object member, or an array element (key "").
type jmember struct {
	key string
	val *jvalue
}

// maxObjectKeys bounds the members of one object (pinset's objects have at
// most 6), which keeps the linear duplicate check cheap.
const maxObjectKeys = 32

// fields are an object's members, looked up by exact name.
type fields struct{ v *jvalue }

// get returns the member named k, or nil.
func (f fields) get(k string) *jvalue {
	for _, m := range f.v.kids {
		if m.key == k {
			return m.val
		}
	}
	return nil
}

type jparser struct {
	what string
	data []byte
	src  string // string(data): unescaped strings are substrings of it
	pos  int

	block []jvalue  // values are taken from here until it is full
	open  []jmember // children of the containers still open
	done  []jmember // children of closed containers (subslices handed out)
}

// Block sizes: the first block is small (an envelope has about ten
// values), the later ones larger.
const firstBlock, nextBlock = 16, 64

// blockSize is the size of the block after one of size prev (0: none).
func blockSize(prev int) int {
	if prev == 0 {
		return firstBlock
	}
	return nextBlock
}

// node returns a new value from the current block. A full block is left
// to the values already pointing into it and a new one is started, so
// pointers stay valid.
func (p *jparser) node(kind jkind, off int) *jvalue {
	if len(p.block) == cap(p.block) {
		p.block = make([]jvalue, 0, blockSize(cap(p.block)))
	}
	p.block = append(p.block, jvalue{kind: kind, off: int32(off)})
	return &p.block[len(p.block)-1]
}

// closeKids moves the children above base of the open-container stack
// to their final place and returns them. A full place is left to the
// containers already pointing into it and a new one is started.
func (p *jparser) closeKids(base int) []jmember {
	src := p.open[base:]
	if len(src) == 0 {
		return nil
	}
	if cap(p.done)-len(p.done) < len(src) {
		p.done = make([]jmember, 0, max(2*blockSize(cap(p.done)), len(src)))
	}
	start := len(p.done)
	p.done = append(p.done, src...)
	clear(src)
	p.open = p.open[:base]
	return p.done[start:len(p.done):len(p.done)]
}

// parseStrict parses data as one JSON value under the strict rules.
// what names the document in errors.
func parseStrict(what string, data []byte, limit int) (*jvalue, error) {
	v, _, err := parseStrictSrc(what, data, limit)
	return v, err
}

// parseStrictSrc is parseStrict that also returns the string copy of data
// its strings point into (empty on error), for a caller that keeps the
// input anyway.
func parseStrictSrc(what string, data []byte, limit int) (*jvalue, string, error) {
	if len(data) > limit {
		return nil, "", &DecodeError{What: what, Offset: -1, Reason: fmt.Sprintf("%d bytes is over the cap of %d", len(data), limit), Err: ErrTooLarge}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, "", &DecodeError{What: what, Offset: off, Reason: "invalid UTF-8", Err: ErrMalformed}
	}
	p := &jparser{what: what, data: data, src: string(data)}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, "", err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, "", p.fail("trailing data after the JSON value")
	}
	return v, p.src, nil
}

func (p *jparser) fail(format string, args ...any) error {
	return &DecodeError{What: p.what, Offset: p.pos, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func (p *jparser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) value(depth int) (*jvalue, error) {
	if depth > maxDepth {
		return nil, p.fail("nesting deeper than %d", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		v := p.node(jString, start)
		v.s = s
		return v, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		v := p.node(jBool, start)
		v.b = true
		return v, nil
	case p.literal("false"):
		return p.node(jBool, start), nil
	case p.literal("null"):
		return p.node(jNull, start), nil
	default:
		r, _ := utf8.DecodeRune(p.data[p.pos:])
		if r == '\ufeff' {
			return nil, p.fail("byte order mark (JSON text must not start with one)")
		}
		return nil, p.fail("unexpected character %q", r)
	}
}

func (p *jparser) literal(lit string) bool {
	if strings.HasPrefix(p.src[p.pos:], lit) {
		p.pos += len(lit)
		return true
	}
	return false
}

func (p *jparser) object(depth int) (*jvalue, error) {
	v, base, empty := p.begin(jObject, '}')
	if empty {
		return v, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a string key")
		}
		keyOff := p.pos
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		for _, m := range p.open[base:] {
			if m.key == k {
				p.pos = keyOff
				return nil, p.fail("duplicate key %q", k)
			}
		}
		if len(p.open)-base == maxObjectKeys {
			p.pos = keyOff
			return nil, p.fail("more than %d members in an object", maxObjectKeys)
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':' after key %q", k)
		}
		p.pos++
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.open = append(p.open, jmember{key: k, val: e})
		if done, err := p.next(v, base, '}', "an object"); err != nil {
			return nil, err
		} else if done {
			return v, nil
		}
	}
}

func (p *jparser) array(depth int) (*jvalue, error) {
	v, base, empty := p.begin(jArray, ']')
	if empty {
		return v, nil
	}
	for {
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.open = append(p.open, jmember{val: e})
		if done, err := p.next(v, base, ']', "an array"); err != nil {
			return nil, err
		} else if done {
			return v, nil
		}
	}
}

// begin starts a container of kind at its opening byte: its node, where
// its members start in p.open, and whether closing follows at once (an
// empty container, read whole).
func (p *jparser) begin(kind jkind, closing byte) (v *jvalue, base int, empty bool) {
	v = p.node(kind, p.pos)
	base = len(p.open)
	p.pos++ // { or [
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == closing {
		p.pos++
		return v, base, true
	}
	return v, base, false
}

// next reads what follows a member of the container v (an object or an
// array, named by what in errors): a comma, more members to come, or its
// closing byte, which closes v's members from base on (done).
func (p *jparser) next(v *jvalue, base int, closing byte, what string) (done bool, err error) {
	p.space()
	if p.pos >= len(p.data) {
		return false, p.fail("unexpected end of input in %s", what)
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case closing:
		p.pos++
		v.kids = p.closeKids(base)
		return true, nil
	}
	return false, p.fail("expected ',' or '%c' in %s", closing, what)
}

func (p *jparser) number() (*jvalue, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	n := p.pos - digits
	if n == 0 {
		return nil, p.fail("a number needs digits")
	}
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '.', 'e', 'E':
			p.pos = start
			return nil, p.fail("floating-point numbers are not allowed (integers only)")
		}
	}
	if n > 1 && p.data[digits] == '0' {
		p.pos = start
		return nil, p.fail("leading zeros are not allowed")
	}
	if n > maxIntDigits {
		p.pos = start
		return nil, p.fail("integer with more than %d digits", maxIntDigits)
	}
	v := p.node(jInt, start)
	v.s = p.src[start:p.pos]
	return v, nil
}

func (p *jparser) str() (string, error) {
	p.pos++ // opening quote
	// Fast path: no escapes (the input is valid UTF-8 already).
	if i := stringStop(p.data, p.pos); i < len(p.data) && p.data[i] == '"' {
		s := p.src[p.pos:i]
		p.pos = i + 1
		return s, nil
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.fail("control character 0x%02x in a string", c)
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.fail("unterminated escape")
			}
			e := p.data[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || !strings.HasPrefix(p.src[p.pos:], `\u`) {
						return "", p.fail("lone UTF-16 surrogate in a \\u escape")
					}
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", p.fail("invalid UTF-16 surrogate pair in a \\u escape")
					}
				}
				b.WriteRune(r)
			default:
				p.pos -= 2
				return "", p.fail("invalid escape \\%c", e)
			}
		default:
			// Valid UTF-8 was checked for the whole input up front.
			r, n := utf8.DecodeRune(p.data[p.pos:])
			b.WriteRune(r)
			p.pos += n
		}
	}
}

// stringStop returns the index of the first byte at or after i that ends
// the plain part of a string: a quote, a backslash or a control character
// (len(b) if there is none). It tests eight bytes at a time: for each
// word, (x-0x01..)&^x&0x80.. flags the bytes that are zero (here: equal to
// the quote or backslash after an XOR, or below 0x20 when 0x20 is
// subtracted), and the lowest flagged byte is always a true match, since a
// borrow only runs towards higher bytes.
func stringStop(b []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (lo * '"')
		e := x ^ (lo * '\\')
		m := ((q - lo) &^ q) | ((e - lo) &^ e) | ((x - lo*0x20) &^ x)
		if m &= hi; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

func (p *jparser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.fail("short \\u escape")
	}
	h := p.src[p.pos : p.pos+4]
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil || strings.ContainsAny(h, "+-") {
		return 0, p.fail("invalid \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// Schema layer.

// dec walks a parsed tree, remembering the document name for errors.
type dec struct {
	what string
}

func (d dec) fail(v *jvalue, path jpath, format string, args ...any) error {
	off := -1
	if v != nil {
		off = int(v.off)
	}
	return &DecodeError{What: d.what, Path: path.String(), Offset: off, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// jpath is the JSON path of a value ("hosts[3].pins[1]"), kept as its
// parts and spelled out only when an error names it, so that decoding a
// valid document builds no path strings.
type jpath struct {
	segs [6]jseg
	n    int
}

// jseg is one step of a path: a member name, or an array index when key
// is empty.
type jseg struct {
	key string
	idx int
}

// dot returns the path of member k of p.
func (p jpath) dot(k string) jpath {
	if p.n < len(p.segs) {
		p.segs[p.n] = jseg{key: k}
		p.n++
	}
	return p
}

// at returns the path of element i of p.
func (p jpath) at(i int) jpath {
	if p.n < len(p.segs) {
		p.segs[p.n] = jseg{idx: i}
		p.n++
	}
	return p
}

// String spells the path: members joined by dots, indexes in brackets.
func (p jpath) String() string {
	var b strings.Builder
	for _, s := range p.segs[:p.n] {
		if s.key == "" {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// top is the path of the top value.
var top jpath

// object checks that v is an object with every required field, no field
// outside required and optional, and no case variant of a known name.
func (d dec) object(v *jvalue, path jpath, required, optional []string) (fields, error) {
	f := fields{v}
	if v.kind != jObject {
		return f, d.fail(v, path, "expected an object, found %s", v.kind)
	}
	known := func(k string) bool {
		for _, n := range required {
			if n == k {
				return true
			}
		}
		for _, n := range optional {
			if n == k {
				return true
			}
		}
		return false
	}
	for _, m := range v.kids {
		k := m.key
		if known(k) {
			continue
		}
		for _, n := range append(append([]string(nil), required...), optional...) {
			if strings.EqualFold(n, k) {
				return f, d.fail(f.get(k), path.dot(k), "field name %q differs in case from %q", k, n)
			}
		}
		return f, d.fail(f.get(k), path.dot(k), "unknown field %q", k)
	}
	for _, n := range required {
		if f.get(n) == nil {
			return f, d.fail(v, path, "missing field %q", n)
		}
	}
	return f, nil
}

func (d dec) str(v *jvalue, path jpath) (string, error) {
	if v.kind != jString {
		return "", d.fail(v, path, "expected a string, found %s", v.kind)
	}
	return v.s, nil
}

func (d dec) boolean(v *jvalue, path jpath) (bool, error) {
	if v.kind != jBool {
		return false, d.fail(v, path, "expected true or false, found %s", v.kind)
	}
	return v.b, nil
}

// uint reads a non-negative integer no larger than MaxVersion.
func (d dec) uint(v *jvalue, path jpath) (uint64, error) {
	if v.kind != jInt {
		return 0, d.fail(v, path, "expected an integer, found %s", v.kind)
	}
	if strings.HasPrefix(v.s, "-") {
		return 0, d.fail(v, path, "expected a non-negative integer")
	}
	n, err := strconv.ParseUint(v.s, 10, 64)
	if err != nil || n > MaxVersion {
		return 0, d.fail(v, path, "integer out of range (at most %d)", uint64(MaxVersion))
	}
	return n, nil
}

func (d dec) array(v *jvalue, path jpath, maxLen int) ([]jmember, error) {
	if v.kind != jArray {
		return nil, d.fail(v, path, "expected an array, found %s", v.kind)
	}
	if len(v.kids) > maxLen {
		return nil, d.fail(v, path, "%d entries is more than the limit of %d", len(v.kids), maxLen)
	}
	return v.kids, nil
}

// TimeLayout is the one spelling of times in signed documents: RFC 3339
// in UTC, whole seconds, with a "Z".
const TimeLayout = "2006-01-02T15:04:05Z"

func (d dec) time(v *jvalue, path jpath) (time.Time, error) {
	s, err := d.str(v, path)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil || t.Format(TimeLayout) != s {
		return time.Time{}, d.fail(v, path, "time %q is not RFC 3339 UTC with whole seconds (like 2026-01-02T15:04:05Z)", s)
	}
	return t, nil
}

// b64 decodes standard base64 with padding, refusing any other spelling.
func (d dec) b64(v *jvalue, path jpath) ([]byte, error) {
	s, err := d.str(v, path)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, d.fail(v, path, "not standard padded base64: %v", err)
	}
	return b, nil
}

// formatTime writes a time in TimeLayout.
func formatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(TimeLayout) }
