package aab

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed protobuf")

// field is one decoded protobuf field: Bytes for length-delimited fields,
// Varint for varints.
type field struct {
	Num    protowire.Number
	Type   protowire.Type
	Bytes  []byte
	Varint uint64
}

// eachField calls f for every field of the message in b, strictly: a
// truncated field, a bad tag or a group is an error.
func eachField(b []byte, f func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		fl := field{Num: num, Type: typ}
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			fl.Varint, b = v, b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			fl.Bytes, b = v, b[n:]
		case protowire.Fixed32Type, protowire.Fixed64Type:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		default:
			return fmt.Errorf("%w: field %d has unsupported wire type %d", ErrMalformed, num, typ)
		}
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

// str returns a string field, checking the wire type.
func (f field) str() (string, error) {
	if f.Type != protowire.BytesType {
		return "", fmt.Errorf("%w: field %d should be a string", ErrMalformed, f.Num)
	}
	return string(f.Bytes), nil
}

// msg returns an embedded message field, checking the wire type.
func (f field) msg() ([]byte, error) {
	if f.Type != protowire.BytesType {
		return nil, fmt.Errorf("%w: field %d should be a message", ErrMalformed, f.Num)
	}
	return f.Bytes, nil
}

// fields calls fn for every field of the embedded message f (eachField
// over msg).
func (f field) fields(fn func(field) error) error {
	m, err := f.msg()
	if err != nil {
		return err
	}
	return eachField(m, fn)
}

// setStr is a visitor of a message's fields that stores the string field
// num in *dst (the last one, when repeated).
func setStr(num protowire.Number, dst *string) func(field) error {
	return func(f field) error {
		if f.Num != num {
			return nil
		}
		s, err := f.str()
		*dst = s
		return err
	}
}

// appendMsg appends the embedded message f to list (a repeated field).
func appendMsg(list [][]byte, f field) ([][]byte, error) {
	m, err := f.msg()
	return append(list, m), err
}

// uint returns a varint field, checking the wire type.
func (f field) uint() (uint64, error) {
	if f.Type != protowire.VarintType {
		return 0, fmt.Errorf("%w: field %d should be a varint", ErrMalformed, f.Num)
	}
	return f.Varint, nil
}
