package ipa

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
)

// Limits of a property list, checked by [CheckPlist] before
// howett.net/plist decodes anything. Its parsers recurse once per nesting
// level, so a plist of a million unclosed <array> tags overflows the
// goroutine stack (a fatal error that recover cannot catch), and its binary
// parser checks every container against all the containers above it, so a
// million nested arrays cost minutes and a gigabyte. Real Info.plists nest
// under ten levels and hold a few thousand objects.
const (
	// MaxPlistDepth bounds nesting: XML elements (<plist> included),
	// binary arrays and dictionaries, text-format ( and {.
	MaxPlistDepth = 64
	// MaxPlistObjects bounds the objects of a plist: XML elements, the
	// binary object table, text-format containers.
	MaxPlistObjects = 200_000
	// maxPlistRefs bounds the references a binary plist's reachable
	// containers hold in total: the decoder builds a slice for each
	// container it reaches, shared or not.
	maxPlistRefs = 1 << 20
)

// Errors of [CheckPlist]; test them with errors.Is.
var (
	ErrPlistTooDeep = fmt.Errorf("property list nested deeper than %d levels", MaxPlistDepth)
	ErrPlistTooMany = errors.New("property list has too many objects")
	ErrPlistCycle   = errors.New("binary property list contains itself (a reference cycle)")
)

// limitError says which limit was hit; it matches its Err with errors.Is.
type limitError struct {
	msg string
	err error
}

func (e *limitError) Error() string { return e.msg }
func (e *limitError) Unwrap() error { return e.err }

func tooMany(format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...), err: ErrPlistTooMany}
}

// CheckPlist checks that b, a property list in any of the formats
// howett.net/plist reads, is within [MaxPlistDepth] and [MaxPlistObjects],
// without recursion and in time linear in len(b). It decides the format
// as that decoder does: "bplist" first, then XML when the first element
// is a plist element, else the text (OpenStep/GNUstep) format.
func CheckPlist(b []byte) error {
	if bytes.HasPrefix(b, []byte("bplist")) {
		return checkBinaryPlist(b)
	}
	if isXMLPlist(b) {
		return checkXMLPlist(b)
	}
	return checkTextPlist(b)
}

// plistElements are the elements howett.net/plist's XML parser knows; a
// document starting with any other element is parsed as text.
var plistElements = map[string]bool{
	"plist": true, "string": true, "integer": true, "real": true, "true": true, "false": true,
	"date": true, "data": true, "dict": true, "array": true,
}

func isXMLPlist(b []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return plistElements[se.Name.Local]
		}
	}
}

// checkXMLPlist streams the tokens of the document's first element, as
// the decoder reads them (same encoding/xml settings), counting depth and
// elements.
func checkXMLPlist(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, n, started := 0, 0, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil // the decoder reports what is missing
		}
		if err != nil {
			return fmt.Errorf("malformed property list: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			started = true
			if depth++; depth > MaxPlistDepth {
				return ErrPlistTooDeep
			}
			if n++; n > MaxPlistObjects {
				return tooMany("property list of more than %d XML elements", MaxPlistObjects)
			}
		case xml.EndElement:
			if depth--; depth == 0 && started {
				return nil // the decoder reads no further
			}
		}
	}
}

// checkTextPlist scans a text-format plist for ( and { outside strings,
// data and comments. The decoder reads UTF-16 (by BOM or by a zero first
// or second byte) and UTF-8; so does this.
func checkTextPlist(b []byte) error {
	s, ok := textPlistString(b)
	if !ok {
		return nil // the decoder refuses it
	}
	depth, n := 0, 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"':
			// A quoted string; backslash escapes the next character.
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i++
		case c == '<':
			// Data: <hex>, <*I5>, <[base64]>: none may hold '>'.
			for i++; i < len(s) && s[i] != '>'; i++ {
			}
			i++
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i += 2; i < len(s) && s[i] != '\n' && s[i] != '\r'; i++ {
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := bytes.Index([]byte(s[i+2:]), []byte("*/"))
			if end < 0 {
				return nil // the decoder refuses an unterminated comment
			}
			i += 2 + end + 2
		case c == '(' || c == '{':
			if depth++; depth > MaxPlistDepth {
				return ErrPlistTooDeep
			}
			if n++; n > MaxPlistObjects {
				return tooMany("property list of more than %d arrays and dictionaries", MaxPlistObjects)
			}
			i++
		case c == ')' || c == '}':
			if depth > 0 {
				depth--
			}
			i++
		default:
			i++
		}
	}
	return nil
}

// textPlistString decodes b as howett.net/plist's text parser does
// (guessEncodingAndConvert); ok is false when it would refuse it.
func textPlistString(b []byte) (string, bool) {
	u16 := func(b []byte, bo binary.ByteOrder) (string, bool) {
		if len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = bo.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u)), true
	}
	switch {
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return string(b[3:]), true
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		return u16(b[2:], binary.BigEndian)
	case len(b) >= 2 && b[0] == 0 && b[1] != 0:
		return u16(b, binary.BigEndian)
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		return u16(b[2:], binary.LittleEndian)
	case len(b) >= 2 && b[0] != 0 && b[1] == 0:
		return u16(b, binary.LittleEndian)
	}
	return string(b), true // scanned byte by byte: the syntax is ASCII
}

// checkBinaryPlist validates a binary plist's trailer and offset table and
// walks the object graph reachable from the top object iteratively (an
// explicit stack, each object entered once), refusing offsets outside the
// object area, references to missing objects, cycles, nesting beyond
// MaxPlistDepth and more than MaxPlistObjects objects.
func checkBinaryPlist(b []byte) error {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("malformed binary property list: "+format, args...)
	}
	if len(b) < 8+32 {
		return malformed("%d bytes is too short", len(b))
	}
	tr := b[len(b)-32:]
	offSize, refSize := int(tr[6]), int(tr[7])
	numObjects := binary.BigEndian.Uint64(tr[8:])
	top := binary.BigEndian.Uint64(tr[16:])
	tableOff := binary.BigEndian.Uint64(tr[24:])
	trailerOff := uint64(len(b) - 32)
	switch {
	case offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8:
		return malformed("offset size %d and reference size %d must be 1 to 8", offSize, refSize)
	case numObjects > MaxPlistObjects:
		return tooMany("binary property list of %d objects exceeds the limit of %d", numObjects, MaxPlistObjects)
	case numObjects == 0 || top >= numObjects:
		return malformed("top object %d of %d", top, numObjects)
	case tableOff < 8 || tableOff > trailerOff || trailerOff-tableOff < numObjects*uint64(offSize):
		return malformed("offset table at %d does not fit", tableOff)
	}
	be := func(p []byte) uint64 {
		var v uint64
		for _, c := range p {
			v = v<<8 | uint64(c)
		}
		return v
	}
	// offsetOf returns where object i starts.
	offsetOf := func(i uint64) (uint64, error) {
		p := tableOff + i*uint64(offSize)
		o := be(b[p : p+uint64(offSize)])
		if o < 8 || o >= tableOff {
			return 0, malformed("object %d at offset %d is outside the object area", i, o)
		}
		return o, nil
	}
	// children returns whether object i is an array or a dictionary (the
	// decoder reads no other containers; sets it refuses), where its
	// references start and how many there are.
	children := func(i uint64) (container bool, start, n uint64, err error) {
		o, err := offsetOf(i)
		if err != nil {
			return false, 0, 0, err
		}
		tag := b[o]
		mult := uint64(1)
		switch tag & 0xF0 {
		case 0xA0: // array
		case 0xD0: // dictionary: keys, then values
			mult = 2
		default:
			return false, 0, 0, nil
		}
		n, start = uint64(tag&0x0F), o+1
		if n == 0x0F {
			// The count follows as an integer object: 0x1N, 2^N bytes.
			if start >= tableOff || b[start]&0xF0 != 0x10 || b[start]&0x0F > 3 {
				return false, 0, 0, malformed("object %d has an invalid count", i)
			}
			size := uint64(1) << (b[start] & 0x0F)
			if start+1+size > tableOff {
				return false, 0, 0, malformed("object %d has a truncated count", i)
			}
			n = be(b[start+1 : start+1+size])
			start += 1 + size
		}
		if n > (tableOff-start)/(mult*uint64(refSize)) {
			return false, 0, 0, malformed("object %d holds %d references past the object area", i, n)
		}
		return true, start, n * mult, nil
	}

	const (
		unseen = iota
		open   // on the current path: reaching it again is a cycle
		done
	)
	state := make([]uint8, numObjects)
	// height is the most containers on a path down from an object, itself
	// included; the stack holds the containers above the current one.
	height := make([]uint8, numObjects)
	type frame struct{ i, start, n, next uint64 }
	refs := uint64(0)
	enter := func(i uint64, stack []frame) ([]frame, error) {
		container, start, n, err := children(i)
		if err != nil {
			return nil, err
		}
		state[i] = done
		if !container {
			return stack, nil
		}
		if len(stack)+1 > MaxPlistDepth {
			return nil, ErrPlistTooDeep
		}
		if refs += n; refs > maxPlistRefs {
			return nil, tooMany("binary property list of more than %d references", maxPlistRefs)
		}
		height[i] = 1
		if n > 0 {
			state[i] = open
			stack = append(stack, frame{i: i, start: start, n: n})
		}
		return stack, nil
	}
	stack, err := enter(top, make([]frame, 0, MaxPlistDepth))
	if err != nil {
		return err
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next == f.n {
			i := f.i
			stack = stack[:len(stack)-1]
			state[i] = done
			if len(stack) > 0 {
				parent := stack[len(stack)-1].i
				height[parent] = max(height[parent], height[i]+1)
			}
			continue
		}
		p := f.start + f.next*uint64(refSize)
		f.next++
		parent := f.i
		c := be(b[p : p+uint64(refSize)])
		if c >= numObjects {
			return malformed("object %d refers to object %d of %d", parent, c, numObjects)
		}
		switch state[c] {
		case open:
			return ErrPlistCycle
		case done:
			// Shared: its subtree was checked; only the depth it adds
			// along this path is new.
			if len(stack)+int(height[c]) > MaxPlistDepth {
				return ErrPlistTooDeep
			}
			height[parent] = max(height[parent], height[c]+1)
		default:
			depth := len(stack)
			if stack, err = enter(c, stack); err != nil {
				return err
			}
			if len(stack) == depth { // a scalar or an empty container
				height[parent] = max(height[parent], height[c]+1)
			}
		}
	}
	return nil
}
