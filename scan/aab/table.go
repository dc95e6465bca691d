package aab

import (
	"fmt"
	"strconv"
	"strings"
)

// Field numbers of aapt2's ResourceTable (Resources.proto).
const (
	tablePackage = 2 // ResourceTable.package

	pkgID   = 1 // Package.package_id (PackageId{id = 1})
	pkgType = 3 // Package.type

	typeID    = 1 // Type.type_id (TypeId{id = 1})
	typeName  = 2 // Type.name
	typeEntry = 3 // Type.entry

	entryID     = 1 // Entry.entry_id (EntryId{id = 1})
	entryName   = 2 // Entry.name
	entryConfig = 6 // Entry.config_value

	configValueConfig = 1 // ConfigValue.config
	configValueValue  = 2 // ConfigValue.value
	valueItem         = 4 // Value.item
	fileRefPath       = 1 // FileReference.path

	idField = 1 // PackageId.id, TypeId.id, EntryId.id
)

// Table is a decoded resources.pb: the default-configuration value of each
// resource, by id and by "type/name".
type Table struct {
	byID   map[uint32]string
	byName map[string]uint32
}

// DecodeTable decodes a ResourceTable.
func DecodeTable(b []byte) (*Table, error) {
	t := &Table{byID: map[uint32]string{}, byName: map[string]uint32{}}
	err := eachField(b, func(f field) error {
		if f.Num != tablePackage {
			return nil
		}
		m, err := f.msg()
		if err != nil {
			return err
		}
		return t.pkg(m)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func wrappedID(f field) (uint32, error) {
	var id uint64
	err := f.fields(func(g field) error {
		if g.Num == idField {
			var err error
			id, err = g.uint()
			return err
		}
		return nil
	})
	return uint32(id), err
}

func (t *Table) pkg(b []byte) error {
	var pid uint32
	var types [][]byte
	err := eachField(b, func(f field) error {
		var err error
		switch f.Num {
		case pkgID:
			pid, err = wrappedID(f)
		case pkgType:
			types, err = appendMsg(types, f)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, ty := range types {
		if err := t.typ(pid, ty); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) typ(pid uint32, b []byte) error {
	var tid uint32
	var name string
	var entries [][]byte
	err := eachField(b, func(f field) error {
		var err error
		switch f.Num {
		case typeID:
			tid, err = wrappedID(f)
		case typeName:
			name, err = f.str()
		case typeEntry:
			entries, err = appendMsg(entries, f)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := t.entry(pid, tid, name, e); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) entry(pid, tid uint32, typeName string, b []byte) error {
	var eid uint32
	var name, value string
	haveDefault := false
	err := eachField(b, func(f field) error {
		var err error
		switch f.Num {
		case entryID:
			eid, err = wrappedID(f)
		case entryName:
			name, err = f.str()
		case entryConfig:
			var m []byte
			if m, err = f.msg(); err != nil {
				return err
			}
			v, isDefault, err := configValue(m)
			if err != nil {
				return err
			}
			if v != "" && (!haveDefault && (isDefault || value == "")) {
				value, haveDefault = v, isDefault
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	id := pid<<24 | (tid&0xff)<<16 | eid&0xffff
	t.byID[id] = value
	t.byName[typeName+"/"+name] = id
	return nil
}

// configValue returns the rendered value of a ConfigValue and whether its
// configuration is the default one.
func configValue(b []byte) (string, bool, error) {
	isDefault := true
	var out string
	err := eachField(b, func(f field) error {
		switch f.Num {
		case configValueConfig:
			m, err := f.msg()
			if err != nil {
				return err
			}
			isDefault = len(m) == 0
		case configValueValue:
			return f.fields(func(g field) error {
				if g.Num != valueItem {
					return nil
				}
				item, err := g.msg()
				if err != nil {
					return err
				}
				return eachField(item, func(h field) error {
					switch h.Num {
					case itemFile:
						return h.fields(setStr(fileRefPath, &out))
					case itemStr, itemRawStr:
						return h.fields(setStr(1, &out))
					case itemPrim, itemRef:
						s, err := itemText(item)
						out = s
						return err
					}
					return nil
				})
			})
		}
		return nil
	})
	return out, isDefault, err
}

// Resolve returns the default value of the resource a reference names:
// "@0x7f120001" or "@xml/name" (a file path, a boolean, a number).
func (t *Table) Resolve(ref string) (string, error) {
	id, ok := t.lookup(ref)
	if !ok {
		return "", fmt.Errorf("resource %s not found in resources.pb", ref)
	}
	v := t.byID[id]
	if v == "" {
		return "", fmt.Errorf("resource %s has no default value", ref)
	}
	return v, nil
}

func (t *Table) lookup(ref string) (uint32, bool) {
	if strings.HasPrefix(ref, "@0x") || strings.HasPrefix(ref, "@0X") {
		n, err := strconv.ParseUint(ref[3:], 16, 32)
		if err != nil {
			return 0, false
		}
		_, ok := t.byID[uint32(n)]
		return uint32(n), ok
	}
	name := strings.TrimPrefix(ref, "@")
	if i := strings.IndexByte(name, ':'); i >= 0 { // "@android:xml/x" or "@pkg:xml/x"
		name = name[i+1:]
	}
	id, ok := t.byName[name]
	return id, ok
}
