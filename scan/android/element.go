// Package android holds what pinset reads from an Android app, whatever the
// container: the manifest's transport-security settings and the Network
// Security Config (NSC), as plain models built from an XML element tree.
//
// The readers (scan/apk for binary AXML, scan/aab for aapt2's protobuf XML,
// [ParseXML] for plain XML) all produce an [*Element] tree; [ParseManifest]
// and [ParseNSC] turn trees into [Manifest] and [NSC]. The findings about them
// are decided in package scan.
package android

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// NS is the Android attribute namespace.
const NS = "http://schemas.android.com/apk/res/android"

// Element is one XML element, namespace-resolved.
type Element struct {
	Space    string // namespace URI
	Name     string // local name
	Attrs    []Attr
	Children []*Element
	// Path locates the element for people: "network-security-config/domain-config[2]".
	Path string
}

// Attr is one attribute. Value is textual: "true", "26", or a resource
// reference written "@0x7f120001" (or "@xml/name" when the container keeps
// names); readers resolve references they can.
type Attr struct {
	Space string
	Name  string
	Value string
}

// Attr returns the value of the attribute with local name, preferring the
// Android namespace, then no namespace.
func (e *Element) Attr(name string) (string, bool) {
	var fallback *Attr
	for i := range e.Attrs {
		a := &e.Attrs[i]
		if a.Name != name {
			continue
		}
		if a.Space == NS {
			return a.Value, true
		}
		if fallback == nil {
			fallback = a
		}
	}
	if fallback != nil {
		return fallback.Value, true
	}
	return "", false
}

// Child returns the children called name.
func (e *Element) Child(name string) []*Element {
	var out []*Element
	for _, c := range e.Children {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// Text returns the concatenated character data of e, trimmed. It is kept in
// a pseudo-attribute so that every reader can fill it the same way.
func (e *Element) Text() string {
	for _, a := range e.Attrs {
		if a.Space == textSpace {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// textSpace marks the pseudo-attribute that carries an element's text.
const textSpace = "#text"

// AddText appends character data to e (for readers).
func (e *Element) AddText(s string) {
	for i := range e.Attrs {
		if e.Attrs[i].Space == textSpace {
			e.Attrs[i].Value += s
			return
		}
	}
	e.Attrs = append(e.Attrs, Attr{Space: textSpace, Name: "text", Value: s})
}

// Walk calls f on e and all its descendants, depth first.
func (e *Element) Walk(f func(*Element)) {
	f(e)
	for _, c := range e.Children {
		c.Walk(f)
	}
}

// ResolveAttrs replaces the values of the named attributes on the whole
// tree by what resolve returns for them, where it returns true (a
// resource reference resolved through the app's resource table).
func (e *Element) ResolveAttrs(resolve func(value string) (string, bool), names ...string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	e.Walk(func(x *Element) {
		for i := range x.Attrs {
			a := &x.Attrs[i]
			if !want[a.Name] {
				continue
			}
			if v, ok := resolve(a.Value); ok {
				a.Value = v
			}
		}
	})
}

// SetPaths fills Path on the whole tree, root named by its own name.
func (e *Element) SetPaths() { e.setPath("") }

func (e *Element) setPath(parent string) {
	if parent == "" {
		e.Path = e.Name
	}
	count := map[string]int{}
	for _, c := range e.Children {
		count[c.Name]++
	}
	seen := map[string]int{}
	for _, c := range e.Children {
		seen[c.Name]++
		if count[c.Name] > 1 {
			c.Path = fmt.Sprintf("%s/%s[%d]", e.Path, c.Name, seen[c.Name])
		} else {
			c.Path = e.Path + "/" + c.Name
		}
		c.setPath(e.Path)
	}
}

// Limits of the tree readers.
const (
	MaxDepth    = 64
	MaxElements = 200000
	MaxXMLBytes = 16 << 20
)

// ErrTooDeep and ErrTooMany are returned for trees beyond the limits.
var (
	ErrTooDeep = errors.New("XML nested too deeply")
	ErrTooMany = errors.New("XML has too many elements")
)

// ParseXML reads a plain-text XML document into a tree (the NSC of a source
// tree, or the text that a binary reader produced).
func ParseXML(data []byte) (*Element, error) {
	if len(data) > MaxXMLBytes {
		return nil, fmt.Errorf("XML document of %d bytes exceeds the %d-byte limit", len(data), MaxXMLBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var root *Element
	var stack []*Element
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n++
			if n > MaxElements {
				return nil, ErrTooMany
			}
			if len(stack) >= MaxDepth {
				return nil, ErrTooDeep
			}
			el := &Element{Space: t.Name.Space, Name: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				el.Attrs = append(el.Attrs, Attr{Space: a.Name.Space, Name: a.Name.Local, Value: a.Value})
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("malformed XML: more than one root element")
				}
				root = el
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, el)
			}
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && len(bytes.TrimSpace(t)) > 0 {
				stack[len(stack)-1].AddText(string(t))
			}
		}
	}
	if root == nil {
		return nil, errors.New("malformed XML: no root element")
	}
	root.SetPaths()
	return root, nil
}
