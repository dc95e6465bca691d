package apk

// Builders of binary XML (AXML) and resources.arsc for tests: small, but
// the same chunk layout aapt2 writes (ResourceTypes.h).

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"pinset.dev/pinset/scan/android"
)

const (
	typeReference = 0x01
	typeString    = 0x03
	typeIntDec    = 0x10
	typeBoolean   = 0x12
	noRef         = 0xffffffff
)

type xAttr struct {
	android bool
	name    string
	typ     uint8
	data    uint32
	str     string // for typeString
}

type xNode struct {
	name     string
	attrs    []xAttr
	children []*xNode
}

func str(android bool, name, v string) xAttr {
	return xAttr{android: android, name: name, typ: typeString, str: v}
}
func boolean(name string, v bool) xAttr {
	d := uint32(0)
	if v {
		d = 0xffffffff
	}
	return xAttr{android: true, name: name, typ: typeBoolean, data: d}
}
func integer(name string, v uint32) xAttr {
	return xAttr{android: true, name: name, typ: typeIntDec, data: v}
}
func ref(name string, id uint32) xAttr {
	return xAttr{android: true, name: name, typ: typeReference, data: id}
}

type pool struct {
	list  []string
	index map[string]uint32
}

func (p *pool) ref(s string) uint32 {
	if p.index == nil {
		p.index = map[string]uint32{}
	}
	if i, ok := p.index[s]; ok {
		return i
	}
	p.index[s] = uint32(len(p.list))
	p.list = append(p.list, s)
	return p.index[s]
}

func le(b *bytes.Buffer, vs ...any) {
	for _, v := range vs {
		binary.Write(b, binary.LittleEndian, v)
	}
}

// chunk wraps body in a chunk header.
func mkChunk(typ uint16, hdr []byte, body []byte) []byte {
	var b bytes.Buffer
	le(&b, typ, uint16(8+len(hdr)), uint32(8+len(hdr)+len(body)))
	b.Write(hdr)
	b.Write(body)
	return b.Bytes()
}

// poolChunk encodes a UTF-16 string pool.
func (p *pool) chunk() []byte {
	var data bytes.Buffer
	offsets := make([]uint32, len(p.list))
	for i, s := range p.list {
		offsets[i] = uint32(data.Len())
		u := utf16.Encode([]rune(s))
		le(&data, uint16(len(u)), u, uint16(0))
	}
	for data.Len()%4 != 0 {
		data.WriteByte(0)
	}
	var hdr, body bytes.Buffer
	le(&hdr, uint32(len(p.list)), uint32(0), uint32(0), uint32(28+4*len(p.list)), uint32(0))
	le(&body, offsets)
	body.Write(data.Bytes())
	return mkChunk(0x0001, hdr.Bytes(), body.Bytes())
}

// buildAXML encodes a tree as binary XML.
func buildAXML(root *xNode) []byte {
	p := &pool{}
	uri, prefix := p.ref(android.NS), p.ref("android")
	var nodes bytes.Buffer
	nsHdr := func() []byte { var h bytes.Buffer; le(&h, uint32(1), uint32(noRef)); return h.Bytes() }
	var ns bytes.Buffer
	le(&ns, prefix, uri)
	nodes.Write(mkChunk(0x0100, nsHdr(), ns.Bytes()))
	var walk func(n *xNode)
	walk = func(n *xNode) {
		var ext bytes.Buffer
		le(&ext, uint32(noRef), p.ref(n.name), uint16(20), uint16(20), uint16(len(n.attrs)), uint16(0), uint16(0), uint16(0))
		for _, a := range n.attrs {
			nsRef := uint32(noRef)
			if a.android {
				nsRef = uri
			}
			raw, data := uint32(noRef), a.data
			if a.typ == typeString {
				raw = p.ref(a.str)
				data = raw
			}
			le(&ext, nsRef, p.ref(a.name), raw, uint16(8), uint8(0), a.typ, data)
		}
		nodes.Write(mkChunk(0x0102, nsHdr(), ext.Bytes()))
		for _, c := range n.children {
			walk(c)
		}
		var end bytes.Buffer
		le(&end, uint32(noRef), p.ref(n.name))
		nodes.Write(mkChunk(0x0103, nsHdr(), end.Bytes()))
	}
	walk(root)
	nodes.Write(mkChunk(0x0101, nsHdr(), ns.Bytes()))
	body := append(p.chunk(), nodes.Bytes()...)
	return mkChunk(0x0003, nil, body)
}

// resValue is one entry of a built resource table.
type resValue struct {
	typ  uint8
	data uint32
	str  string
}

// buildTable encodes a resources.arsc with package 0x7f. types maps a
// type name (in order: type id 1, 2, ...) to its entries (entry id 0, 1, ...).
func buildTable(typeNames []string, entries map[string][]resValue) []byte {
	global := &pool{}
	types, keys := &pool{}, &pool{}
	for _, t := range typeNames {
		types.ref(t)
	}
	var chunks bytes.Buffer
	for ti, t := range typeNames {
		es := entries[t]
		var spec bytes.Buffer
		le(&spec, uint8(ti+1), uint8(0), uint16(0), uint32(len(es)))
		flags := make([]uint32, len(es))
		chunks.Write(mkChunk(0x0202, spec.Bytes(), func() []byte { var b bytes.Buffer; le(&b, flags); return b.Bytes() }()))
		const hdrLen = 20 + 64
		var hdr bytes.Buffer
		le(&hdr, uint8(ti+1), uint8(0), uint16(0), uint32(len(es)), uint32(hdrLen+4*len(es)))
		config := make([]byte, 64)
		binary.LittleEndian.PutUint32(config, 64)
		hdr.Write(config)
		var offs, data bytes.Buffer
		for ei, e := range es {
			le(&offs, uint32(data.Len()))
			d := e.data
			if e.typ == typeString {
				d = global.ref(e.str)
			}
			le(&data, uint16(8), uint16(0), keys.ref(t+string(rune('a'+ei))), uint16(8), uint8(0), e.typ, d)
		}
		chunks.Write(mkChunk(0x0201, hdr.Bytes(), append(offs.Bytes(), data.Bytes()...)))
	}
	typePool, keyPool := types.chunk(), keys.chunk()
	const pkgHdr = 288 - 8
	var ph bytes.Buffer
	name := make([]uint16, 128)
	copy(name, utf16.Encode([]rune("com.example")))
	le(&ph, uint32(0x7f), name, uint32(288), uint32(len(typeNames)), uint32(288+len(typePool)), uint32(0), uint32(0))
	pkgBody := append(append(typePool, keyPool...), chunks.Bytes()...)
	pkg := mkChunk(0x0200, ph.Bytes(), pkgBody)
	var th bytes.Buffer
	le(&th, uint32(1))
	return mkChunk(0x0002, th.Bytes(), append(global.chunk(), pkg...))
}

// resID is the id of entry e of type t (1-based) in package 0x7f.
func resID(t, e int) uint32 { return 0x7f<<24 | uint32(t)<<16 | uint32(e) }

// buildZip writes entries into an in-memory zip.
func buildZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
