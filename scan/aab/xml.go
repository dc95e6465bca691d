package aab

import (
	"fmt"
	"strconv"
	"strings"

	"pinset.dev/pinset/scan/android"
)

// Field numbers of aapt2's Resources.proto (frameworks/base/tools/aapt2),
// the messages an AAB stores its XML and resource table in.
const (
	xmlNodeElement = 1 // XmlNode.element
	xmlNodeText    = 2 // XmlNode.text

	xmlElementNS    = 2 // XmlElement.namespace_uri
	xmlElementName  = 3 // XmlElement.name
	xmlElementAttr  = 4 // XmlElement.attribute
	xmlElementChild = 5 // XmlElement.child

	xmlAttrNS       = 1 // XmlAttribute.namespace_uri
	xmlAttrName     = 2 // XmlAttribute.name
	xmlAttrValue    = 3 // XmlAttribute.value
	xmlAttrCompiled = 6 // XmlAttribute.compiled_item

	itemRef    = 1 // Item.ref
	itemStr    = 2 // Item.str
	itemRawStr = 3 // Item.raw_str
	itemFile   = 5 // Item.file
	itemPrim   = 7 // Item.prim

	refID   = 2 // Reference.id
	refName = 3 // Reference.name

	primIntDecimal = 6 // Primitive.int_decimal_value
	primIntHex     = 7 // Primitive.int_hexadecimal_value
	primBoolean    = 8 // Primitive.boolean_value
)

// Limits of the XML decoder.
const (
	MaxDepth    = android.MaxDepth
	MaxElements = android.MaxElements
)

// DecodeXML decodes an XmlNode (the format of every XML file in an AAB)
// into a tree. Attribute values that aapt2 compiled are rendered as the
// binary reader renders them: references "@0x7f120001", booleans
// "true"/"false", integers in decimal.
func DecodeXML(b []byte) (*android.Element, error) {
	d := &xmlDecoder{}
	root, _, err := d.node(b, 0)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, fmt.Errorf("%w: the document has no root element", ErrMalformed)
	}
	root.SetPaths()
	return root, nil
}

type xmlDecoder struct{ elements int }

// node decodes an XmlNode: an element, or text.
func (d *xmlDecoder) node(b []byte, depth int) (*android.Element, string, error) {
	if depth > MaxDepth {
		return nil, "", android.ErrTooDeep
	}
	var el *android.Element
	var text string
	err := eachField(b, func(f field) error {
		switch f.Num {
		case xmlNodeElement:
			m, err := f.msg()
			if err != nil {
				return err
			}
			el, err = d.element(m, depth)
			return err
		case xmlNodeText:
			s, err := f.str()
			text = s
			return err
		}
		return nil
	})
	return el, text, err
}

func (d *xmlDecoder) element(b []byte, depth int) (*android.Element, error) {
	d.elements++
	if d.elements > MaxElements {
		return nil, android.ErrTooMany
	}
	el := &android.Element{}
	err := eachField(b, func(f field) error {
		var err error
		switch f.Num {
		case xmlElementNS:
			el.Space, err = f.str()
		case xmlElementName:
			el.Name, err = f.str()
		case xmlElementAttr:
			var m []byte
			if m, err = f.msg(); err != nil {
				return err
			}
			var a android.Attr
			a, err = attribute(m)
			el.Attrs = append(el.Attrs, a)
		case xmlElementChild:
			var m []byte
			if m, err = f.msg(); err != nil {
				return err
			}
			child, text, err := d.node(m, depth+1)
			if err != nil {
				return err
			}
			if child != nil {
				el.Children = append(el.Children, child)
			} else if strings.TrimSpace(text) != "" {
				el.AddText(text)
			}
		}
		return err
	})
	return el, err
}

func attribute(b []byte) (android.Attr, error) {
	var a android.Attr
	var compiled string
	err := eachField(b, func(f field) error {
		var err error
		switch f.Num {
		case xmlAttrNS:
			a.Space, err = f.str()
		case xmlAttrName:
			a.Name, err = f.str()
		case xmlAttrValue:
			a.Value, err = f.str()
		case xmlAttrCompiled:
			var m []byte
			if m, err = f.msg(); err != nil {
				return err
			}
			compiled, err = itemText(m)
		}
		return err
	})
	if compiled != "" {
		a.Value = compiled
	}
	return a, err
}

// itemText renders a compiled Item; "" when it holds nothing we render.
func itemText(b []byte) (string, error) {
	var out string
	err := eachField(b, func(f field) error {
		switch f.Num {
		case itemRef:
			var id uint64
			var name string
			err := f.fields(func(g field) error {
				var err error
				switch g.Num {
				case refID:
					id, err = g.uint()
				case refName:
					name, err = g.str()
				}
				return err
			})
			if err != nil {
				return err
			}
			switch {
			case id != 0:
				out = fmt.Sprintf("@0x%08X", uint32(id))
			case name != "":
				out = "@" + name
			}
		case itemPrim:
			return f.fields(func(g field) error {
				v, err := g.uint()
				if err != nil {
					// float and other fixed-width primitives: not ours.
					return nil
				}
				switch g.Num {
				case primBoolean:
					out = strconv.FormatBool(v != 0)
				case primIntDecimal:
					out = strconv.FormatInt(int64(int32(v)), 10)
				case primIntHex:
					out = strconv.FormatUint(uint64(uint32(v)), 10)
				}
				return nil
			})
		}
		return nil
	})
	return out, err
}
