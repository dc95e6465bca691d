package aab

import "testing"

// TestConfigValue: each kind of Item a ConfigValue holds renders as the
// resource's value (file path, string, raw string, primitive, reference),
// and an empty config is the default one.
func TestConfigValue(t *testing.T) {
	value := func(item []byte) []byte { return bytesField(valueItem, item) }
	for name, c := range map[string]struct {
		item      []byte
		config    []byte
		want      string
		isDefault bool
	}{
		"file":        {bytesField(itemFile, strField(fileRefPath, "res/xml/nsc.xml")), nil, "res/xml/nsc.xml", true},
		"string":      {bytesField(itemStr, strField(1, "api.example.com")), nil, "api.example.com", true},
		"raw string":  {bytesField(itemRawStr, strField(1, "raw")), nil, "raw", true},
		"boolean":     {boolItem(true), nil, "true", true},
		"integer":     {intItem(-3), nil, "-3", true},
		"reference":   {refItem(0x7f010002), nil, "@0x7F010002", true},
		"not default": {bytesField(itemStr, strField(1, "v21")), msg(varintField(2, 21)), "v21", false},
	} {
		cv := msg(bytesField(configValueConfig, c.config), bytesField(configValueValue, value(c.item)))
		got, isDefault, err := configValue(cv)
		if err != nil || got != c.want || isDefault != c.isDefault {
			t.Errorf("%s: %q default=%v %v, want %q default=%v", name, got, isDefault, err, c.want, c.isDefault)
		}
	}
	// A string field of the wrong wire type is malformed, not skipped.
	bad := msg(bytesField(configValueValue, value(bytesField(itemStr, varintField(1, 7)))))
	if _, _, err := configValue(bad); err == nil {
		t.Error("a varint where a string belongs was accepted")
	}
}
