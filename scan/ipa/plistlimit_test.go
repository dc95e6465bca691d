package ipa

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"howett.net/plist"
)

// bplistBuilder builds a binary plist from encoded objects (references of
// refSize bytes), with 4-byte offsets; alias[i] = j gives object i object
// j's offset.
type bplistBuilder struct {
	refSize int
	objs    [][]byte
	alias   map[int]int
}

func (p *bplistBuilder) ref(b []byte, r int) []byte {
	for i := p.refSize - 1; i >= 0; i-- {
		b = append(b, byte(r>>(8*i)))
	}
	return b
}

// container encodes an array (tag 0xA0) or dictionary (0xD0) of refs,
// with the extended count for 15 or more.
func (p *bplistBuilder) container(tag byte, n int, refs []int) []byte {
	var b []byte
	if n < 15 {
		b = []byte{tag | byte(n)}
	} else {
		b = binary.BigEndian.AppendUint32([]byte{tag | 0x0F, 0x12}, uint32(n))
	}
	for _, r := range refs {
		b = p.ref(b, r)
	}
	return b
}

func (p *bplistBuilder) array(refs ...int) int {
	p.objs = append(p.objs, p.container(0xA0, len(refs), refs))
	return len(p.objs) - 1
}

func (p *bplistBuilder) str(s string) int {
	p.objs = append(p.objs, append([]byte{0x50 | byte(len(s))}, s...))
	return len(p.objs) - 1
}

func (p *bplistBuilder) bytes(top int) []byte {
	b := []byte("bplist00")
	offsets := make([]int, len(p.objs))
	for i, o := range p.objs {
		if a, ok := p.alias[i]; ok {
			offsets[i] = offsets[a]
			continue
		}
		offsets[i] = len(b)
		b = append(b, o...)
	}
	table := len(b)
	for _, o := range offsets {
		b = binary.BigEndian.AppendUint32(b, uint32(o))
	}
	var tr [32]byte
	tr[6], tr[7] = 4, byte(p.refSize)
	binary.BigEndian.PutUint64(tr[8:], uint64(len(p.objs)))
	binary.BigEndian.PutUint64(tr[16:], uint64(top))
	binary.BigEndian.PutUint64(tr[24:], uint64(table))
	return append(b, tr[:]...)
}

// chain is n arrays, each holding the next; the last holds leaf (or
// nothing when leaf < 0). It returns the first.
func (p *bplistBuilder) chain(n, leaf int) int {
	first := len(p.objs)
	for i := range n {
		switch {
		case i < n-1:
			p.array(first + i + 1)
		case leaf >= 0:
			p.array(leaf)
		default:
			p.array()
		}
	}
	return first
}

func xmlNested(n int, closed bool) []byte {
	s := `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">` + strings.Repeat("<array>", n)
	if closed {
		s += strings.Repeat("</array>", n) + "</plist>"
	}
	return []byte(s)
}

func utf16LE(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestCheckPlist(t *testing.T) {
	type tc struct {
		name string
		data []byte
		want error // nil, one of the Err values, or errMalformed
	}
	errMalformed := errors.New("malformed")
	var cases []tc
	add := func(name string, data []byte, want error) { cases = append(cases, tc{name, data, want}) }

	// Real documents.
	real := infoDict(map[string]any{"NSPinnedDomains": map[string]any{"a.example.com": map[string]any{
		"NSPinnedCAIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": "x"}}}}})
	add("real binary", encode(t, real, plist.BinaryFormat), nil)
	add("real xml", encode(t, real, plist.XMLFormat), nil)
	add("real openstep", encode(t, real, plist.OpenStepFormat), nil)
	add("real gnustep", encode(t, real, plist.GNUStepFormat), nil)

	// XML: the <plist> element counts as a level.
	add("xml depth 64", xmlNested(63, true), nil)
	add("xml depth 65", xmlNested(64, true), ErrPlistTooDeep)
	add("xml 1.15M unclosed arrays", xmlNested(1_150_000, false), ErrPlistTooDeep)
	add("xml nesting inside a string", []byte("<plist><string>"+strings.Repeat("<b>", 100)), ErrPlistTooDeep)
	add("xml elements at the limit", []byte("<array>"+strings.Repeat("<true/>", MaxPlistObjects-1)+"</array>"), nil)
	add("xml too many elements", []byte("<array>"+strings.Repeat("<true/>", MaxPlistObjects)+"</array>"), ErrPlistTooMany)
	// The decoder reads only the first element, so neither does the check.
	add("xml after the root", []byte("<plist><dict/></plist>"+strings.Repeat("<array>", 100)), nil)
	add("xml malformed", []byte("<plist><dict></array>"), errMalformed)

	// Text formats (the decoder's fallback when the first element is no
	// plist element, or there is none).
	add("text depth 64", []byte(strings.Repeat("(", 64)+strings.Repeat(")", 64)), nil)
	add("text depth 65", []byte(strings.Repeat("(", 65)), ErrPlistTooDeep)
	add("text dictionaries", []byte(strings.Repeat("{a=", 65)), ErrPlistTooDeep)
	add("text unknown first element", []byte("<abab>"+strings.Repeat("(", 65)), ErrPlistTooDeep)
	add("text brackets in strings, data and comments", []byte(`{ a = "`+strings.Repeat("(", 100)+`\"(((("; b = <0a0b>; /* `+
		strings.Repeat("{", 100)+` */ c = ( // `+strings.Repeat("(", 100)+"\n x ); }"), nil)
	add("text utf-16", utf16LE(strings.Repeat("(", 65)), ErrPlistTooDeep)
	add("text utf-16 shallow", utf16LE("( a, (b) )"), nil)

	// Binary.
	{
		p := &bplistBuilder{refSize: 2}
		add("binary depth 64", p.bytes(p.chain(64, -1)), nil)
	}
	{
		p := &bplistBuilder{refSize: 2}
		add("binary depth 65", p.bytes(p.chain(65, -1)), ErrPlistTooDeep)
	}
	{
		p := &bplistBuilder{refSize: 2}
		leaf := p.str("x")
		add("binary depth 64 with a leaf", p.bytes(p.chain(64, leaf)), nil)
	}
	{
		// 60 levels, each array holding the next twice: 2^60 paths, each
		// object entered once.
		p := &bplistBuilder{refSize: 2}
		for i := range 60 {
			p.array(i+1, i+1)
		}
		p.array()
		add("binary shared diamond", p.bytes(0), nil)
	}
	{
		// X (30 deep) is reached first through a short path, then again
		// through 40 more arrays: 1 + 40 + 30 levels.
		p := &bplistBuilder{refSize: 2}
		p.array(1, 2)        // 0: the top
		p.array(42)          // 1: the short path to X
		p.chain(40, 42)      // 2..41: the long path to X
		x := p.chain(30, -1) // 42..71: X
		if x != 42 {
			t.Fatalf("builder: X at %d", x)
		}
		add("binary shared object deep on its second path", p.bytes(0), ErrPlistTooDeep)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array(1)
		p.array(0)
		add("binary cycle", p.bytes(0), ErrPlistCycle)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array(0)
		add("binary self reference", p.bytes(0), ErrPlistCycle)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array(1, 7)
		p.str("a")
		add("binary reference to a missing object", p.bytes(0), errMalformed)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.objs = append(p.objs, []byte{0xA5, 0, 0})
		add("binary count past the object area", p.bytes(0), errMalformed)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array()
		b := p.bytes(0)
		binary.BigEndian.PutUint32(b[len(b)-36:], 1<<20) // the offset of object 0
		add("binary offset outside the object area", b, errMalformed)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array()
		b := p.bytes(0)
		b[len(b)-32+7] = 0
		add("binary reference size 0", b, errMalformed)
	}
	{
		p := &bplistBuilder{refSize: 2}
		p.array()
		b := p.bytes(5)
		add("binary top object out of range", b, errMalformed)
	}
	{
		p := &bplistBuilder{refSize: 3}
		leaf := p.str("x")
		refs := make([]int, 20)
		for i := range refs {
			refs[i] = leaf
		}
		p.array(refs...)
		add("binary extended count", p.bytes(1), nil)
	}
	for _, n := range []int{MaxPlistObjects, MaxPlistObjects + 1} {
		// n objects: a top array of references to n-1 aliases of one
		// string.
		p := &bplistBuilder{refSize: 3, alias: map[int]int{}}
		refs := make([]int, n-1)
		for i := range refs {
			refs[i] = i + 1
		}
		p.array(refs...)
		for i := 1; i < n; i++ {
			p.str("x")
			if i > 1 {
				p.alias[i] = 1
			}
		}
		var want error
		if n > MaxPlistObjects {
			want = ErrPlistTooMany
		}
		add("binary objects "+strconv.Itoa(n), p.bytes(0), want)
	}
	{
		// 1,000 aliases of one array of 2,000 references: the decoder
		// would build 2,000,000 references from 10 KB of them.
		p := &bplistBuilder{refSize: 2, alias: map[int]int{}}
		refs := make([]int, 1000)
		for i := range refs {
			refs[i] = i + 1
		}
		p.array(refs...)
		inner := make([]int, 2000)
		for i := range inner {
			inner[i] = 1001
		}
		for i := 1; i <= 1000; i++ {
			p.array(inner...)
			if i > 1 {
				p.alias[i] = 1
			}
		}
		p.str("x")
		add("binary aliased containers", p.bytes(0), ErrPlistTooMany)
	}
	{
		// The 1.15 million nested arrays of the report.
		p := &bplistBuilder{refSize: 3}
		add("binary 1.15M nested arrays", p.bytes(p.chain(1_150_000, -1)), ErrPlistTooMany)
	}
	{
		p := &bplistBuilder{refSize: 3}
		add("binary 150k nested arrays", p.bytes(p.chain(150_000, -1)), ErrPlistTooDeep)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := CheckPlist(c.data)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			switch {
			case c.want == errMalformed:
				if err == nil || !strings.Contains(err.Error(), "malformed") {
					t.Fatalf("got %v, want malformed", err)
				}
			case !errors.Is(err, c.want):
				t.Fatalf("got %v, want %v", err, c.want)
			}
			// What passes the check decodes without trouble; what fails
			// it is refused by ParseInfo with the same error (unless it
			// is over ParseInfo's size limit, checked first).
			_, _, perr := ParseInfo(c.data)
			if err != nil && len(c.data) <= MaxPlist && (perr == nil || perr.Error() != err.Error()) {
				t.Fatalf("ParseInfo: %v, want %v", perr, err)
			}
		})
	}
}

// Deep plists parse within bounds through ParseInfo itself: the error,
// not a fatal stack overflow.
func TestParseInfoDeep(t *testing.T) {
	_, _, err := ParseInfo(xmlNested(1_150_000, false))
	if !errors.Is(err, ErrPlistTooDeep) {
		t.Fatalf("err %v", err)
	}
	// A real Info.plist still parses, and keeps its format name.
	for format, name := range map[int]string{plist.XMLFormat: "xml", plist.BinaryFormat: "binary", plist.OpenStepFormat: "openstep"} {
		info, got, err := ParseInfo(encode(t, infoDict(map[string]any{"NSAllowsArbitraryLoads": true}), format))
		if err != nil || got != name || info.ATS == nil {
			t.Fatalf("%s: %v %q %+v", name, err, got, info)
		}
	}
}

// FuzzCheckPlist: whatever the bytes, the check returns (no panic, no
// recursion), and what it accepts ParseInfo decodes without a crash. A
// binary plist it accepts never makes the decoder find a cycle the walk
// missed.
func FuzzCheckPlist(f *testing.F) {
	f.Add(encode(f, infoDict(map[string]any{"NSAllowsArbitraryLoads": true}), plist.BinaryFormat))
	f.Add(encode(f, infoDict(map[string]any{"NSAllowsArbitraryLoads": "YES"}), plist.XMLFormat))
	f.Add(encode(f, infoDict(map[string]any{"NSAllowsArbitraryLoads": "YES"}), plist.GNUStepFormat))
	f.Add(xmlNested(70, false))
	f.Add(xmlNested(10, true))
	f.Add([]byte(`{ a = ( "((", <0a>, /* ( */ b ); }`))
	f.Add(utf16LE("( ( a ) )"))
	for _, build := range []func(p *bplistBuilder) int{
		func(p *bplistBuilder) int { return p.chain(66, -1) },
		func(p *bplistBuilder) int { p.array(1); p.array(0); return 0 },
		func(p *bplistBuilder) int {
			for i := range 20 {
				p.array(i+1, i+1)
			}
			p.str("x")
			return 0
		},
		func(p *bplistBuilder) int {
			k := p.str("k")
			return p.chain(3, k)
		},
	} {
		p := &bplistBuilder{refSize: 1, alias: map[int]int{}}
		f.Add(p.bytes(build(p)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckPlist(b)
		if err != nil {
			return
		}
		_, _, perr := ParseInfo(b)
		if perr != nil && strings.Contains(perr.Error(), "self-referential") {
			t.Fatalf("the decoder found a cycle the check missed: %v", perr)
		}
	})
}
