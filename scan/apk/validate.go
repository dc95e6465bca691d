package apk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The binary formats are read by github.com/shogo82148/androidbinary, which
// trusts the sizes and counts it finds: a crafted file can make it loop
// forever (a zero-sized chunk), allocate gigabytes (a huge string count or
// length) or dereference nil. So every buffer is first walked here, strictly,
// with every offset and count checked against the chunk that holds it, and
// only a buffer that passes is handed to the library.

// Chunk types (ResourceTypes.h).
const (
	chunkStringPool = 0x0001
	chunkTable      = 0x0002
	chunkXML        = 0x0003
	chunkXMLStartNS = 0x0100
	chunkXMLEndNS   = 0x0101
	chunkXMLStart   = 0x0102
	chunkXMLEnd     = 0x0103
	chunkXMLResMap  = 0x0180
	chunkPackage    = 0x0200
	chunkType       = 0x0201
	chunkTypeSpec   = 0x0202
)

// ErrMalformed is wrapped by every validation error.
var ErrMalformed = errors.New("malformed binary resource")

// ErrUnsupported is returned for valid encodings the decoder cannot read.
var ErrUnsupported = errors.New("unsupported binary resource encoding")

// maxOutput bounds the text the library renders from a binary XML file.
const maxOutput = 32 << 20

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

type chunk struct {
	typ       uint16
	hdr, size int
	b         []byte // exactly the chunk
}

// readChunk reads the chunk header at off, within b.
func readChunk(b []byte, off int) (chunk, error) {
	if off < 0 || off+8 > len(b) {
		return chunk{}, malformed("chunk header at offset %d runs past the end (%d bytes)", off, len(b))
	}
	typ := binary.LittleEndian.Uint16(b[off:])
	hdr := int(binary.LittleEndian.Uint16(b[off+2:]))
	size := int(binary.LittleEndian.Uint32(b[off+4:]))
	if hdr < 8 || size < hdr {
		return chunk{}, malformed("chunk 0x%04x at offset %d: header size %d, size %d", typ, off, hdr, size)
	}
	if size > len(b)-off {
		return chunk{}, malformed("chunk 0x%04x at offset %d: size %d runs past the end (%d bytes left)", typ, off, size, len(b)-off)
	}
	return chunk{typ: typ, hdr: hdr, size: size, b: b[off : off+size]}, nil
}

// children walks the chunks inside c after its header.
func (c chunk) children(f func(chunk) error) error {
	for off := c.hdr; off < c.size; {
		k, err := readChunk(c.b, off)
		if err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
		off += k.size
	}
	return nil
}

func u32(b []byte, off int) (uint32, error) {
	if off < 0 || off+4 > len(b) {
		return 0, malformed("field at offset %d runs past its chunk", off)
	}
	return binary.LittleEndian.Uint32(b[off:]), nil
}

// stringLens validates a string pool chunk and returns the length of each
// string in bytes (UTF-8) or code units (UTF-16).
func stringLens(c chunk) ([]int, error) {
	if c.typ != chunkStringPool {
		return nil, malformed("expected a string pool, found chunk 0x%04x", c.typ)
	}
	if c.hdr < 28 {
		return nil, malformed("string pool header of %d bytes", c.hdr)
	}
	b := c.b
	nStr := int(binary.LittleEndian.Uint32(b[8:]))
	nStyle := int(binary.LittleEndian.Uint32(b[12:]))
	flags := binary.LittleEndian.Uint32(b[16:])
	strStart := int(binary.LittleEndian.Uint32(b[20:]))
	styleStart := int(binary.LittleEndian.Uint32(b[24:]))
	if nStr < 0 || nStyle < 0 || nStr > len(b)/4 || nStyle > len(b)/4 || 28+4*(nStr+nStyle) > len(b) {
		return nil, malformed("string pool counts %d strings and %d styles in %d bytes", nStr, nStyle, len(b))
	}
	utf8 := flags&(1<<8) != 0
	lens := make([]int, nStr)
	total := 0
	for i := range nStr {
		pos := strStart + int(binary.LittleEndian.Uint32(b[28+4*i:]))
		if strStart < 0 || pos < 0 || pos >= len(b) {
			return nil, malformed("string %d starts outside its pool", i)
		}
		var n, data int
		if utf8 {
			_, w1, ok := len8(b, pos)
			if !ok {
				return nil, malformed("string %d: truncated length", i)
			}
			l, w2, ok := len8(b, pos+w1)
			if !ok {
				return nil, malformed("string %d: truncated length", i)
			}
			n, data = l, pos+w1+w2+l
		} else {
			l, w, ok := len16(b, pos)
			if !ok {
				return nil, malformed("string %d: truncated length", i)
			}
			n, data = l, pos+w+2*l
		}
		if data > len(b) || data < pos {
			return nil, malformed("string %d of length %d runs past its pool", i, n)
		}
		lens[i] = n
		total += n
		if total > 4*len(b)+4096 {
			return nil, malformed("string pool expands to more than %d characters", total)
		}
	}
	for i := range nStyle {
		pos := styleStart + int(binary.LittleEndian.Uint32(b[28+4*(nStr+i):]))
		if styleStart < 0 || pos < 0 || pos+12 > len(b) {
			return nil, malformed("style %d lies outside its pool", i)
		}
	}
	return lens, nil
}

func len8(b []byte, pos int) (n, width int, ok bool) {
	if pos >= len(b) {
		return 0, 0, false
	}
	if b[pos]&0x80 == 0 {
		return int(b[pos]), 1, true
	}
	if pos+1 >= len(b) {
		return 0, 0, false
	}
	return int(b[pos]&0x7f)<<8 | int(b[pos+1]), 2, true
}

func len16(b []byte, pos int) (n, width int, ok bool) {
	if pos+2 > len(b) {
		return 0, 0, false
	}
	first := int(binary.LittleEndian.Uint16(b[pos:]))
	if first&0x8000 == 0 {
		return first, 2, true
	}
	if pos+4 > len(b) {
		return 0, 0, false
	}
	return (first&0x7fff)<<16 | int(binary.LittleEndian.Uint16(b[pos+2:])), 4, true
}

// validateXML checks a binary XML (AXML) document.
func validateXML(b []byte) error {
	top, err := readChunk(b, 0)
	if err != nil {
		return err
	}
	if top.typ != chunkXML {
		return malformed("not binary XML (chunk type 0x%04x)", top.typ)
	}
	var lens []int
	output := 0
	err = top.children(func(c chunk) error {
		switch c.typ {
		case chunkStringPool:
			if lens != nil {
				return malformed("second string pool")
			}
			lens, err = stringLens(c)
			return err
		case chunkXMLStartNS, chunkXMLEndNS, chunkXMLEnd:
			if c.hdr < 16 || c.size < c.hdr+8 {
				return malformed("XML node chunk 0x%04x too short", c.typ)
			}
		case chunkXMLStart:
			if lens == nil {
				return malformed("element before the string pool")
			}
			if c.hdr < 16 || c.size < c.hdr+20 {
				return malformed("start element chunk too short")
			}
			ext := c.b[c.hdr:]
			attrStart := int(binary.LittleEndian.Uint16(ext[8:]))
			attrSize := int(binary.LittleEndian.Uint16(ext[10:]))
			count := int(binary.LittleEndian.Uint16(ext[12:]))
			if count > 0 && (attrSize < 20 || c.hdr+attrStart+count*attrSize > c.size) {
				return malformed("start element: %d attributes of %d bytes do not fit", count, attrSize)
			}
			output += 64 + strLen(lens, binary.LittleEndian.Uint32(ext[4:]))
			for i := range count {
				a := c.b[c.hdr+attrStart+i*attrSize:]
				output += 32 + strLen(lens, binary.LittleEndian.Uint32(a[4:])) + 3*strLen(lens, binary.LittleEndian.Uint32(a[8:]))
			}
			// Namespace declarations are re-emitted on the next element.
			output += 3 * len(lens)
			if output > maxOutput {
				return malformed("document expands to more than %d bytes of XML", maxOutput)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if lens == nil {
		return malformed("no string pool")
	}
	return nil
}

func strLen(lens []int, ref uint32) int {
	if int(ref) >= 0 && int(ref) < len(lens) {
		return lens[ref]
	}
	return 0
}

// validateTable checks a resources.arsc table.
func validateTable(b []byte) error {
	top, err := readChunk(b, 0)
	if err != nil {
		return err
	}
	if top.typ != chunkTable || top.hdr < 12 {
		return malformed("not a resource table (chunk type 0x%04x)", top.typ)
	}
	pools := 0
	return top.children(func(c chunk) error {
		switch c.typ {
		case chunkStringPool:
			pools++
			if pools > 1 {
				return malformed("second global string pool")
			}
			_, err := stringLens(c)
			return err
		case chunkPackage:
			return validatePackage(c)
		}
		return nil
	})
}

func validatePackage(c chunk) error {
	const headerSize = 284
	if c.hdr < headerSize {
		return malformed("package header of %d bytes", c.hdr)
	}
	for _, field := range []int{268, 276} { // typeStrings, keyStrings
		off, _ := u32(c.b, field)
		if off < uint32(c.hdr) || int(off) >= c.size {
			return malformed("package string pool offset %d outside the package", off)
		}
		pool, err := readChunk(c.b, int(off))
		if err != nil {
			return err
		}
		if _, err := stringLens(pool); err != nil {
			return err
		}
	}
	return c.children(func(k chunk) error {
		switch k.typ {
		case chunkStringPool:
			_, err := stringLens(k)
			return err
		case chunkType:
			if k.hdr < 20 {
				return malformed("type chunk header of %d bytes", k.hdr)
			}
			// ResTable_type.flags: FLAG_SPARSE entries are (index,
			// offset) pairs, which the decoder would misread as
			// offsets and so resolve to the wrong file.
			if k.b[9]&0x01 != 0 {
				return fmt.Errorf("%w: sparse type chunk (aapt2 --enable-sparse-encoding)", ErrUnsupported)
			}
			n, _ := u32(k.b, 12)
			start, _ := u32(k.b, 16)
			if uint64(k.hdr)+4*uint64(n) > uint64(k.size) || int(start) > k.size {
				return malformed("type chunk: %d entries do not fit in %d bytes", n, k.size)
			}
		case chunkTypeSpec:
			if k.hdr < 16 {
				return malformed("type spec header of %d bytes", k.hdr)
			}
			n, _ := u32(k.b, 12)
			if uint64(k.hdr)+4*uint64(n) > uint64(k.size) {
				return malformed("type spec: %d entries do not fit in %d bytes", n, k.size)
			}
		}
		return nil
	})
}
