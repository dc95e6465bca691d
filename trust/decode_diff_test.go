package trust

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// toAny converts a parsed tree to the values encoding/json produces with
// UseNumber, for comparison.
func toAny(v *jvalue) any {
	switch v.kind {
	case jNull:
		return nil
	case jBool:
		return v.b
	case jInt:
		return json.Number(v.s)
	case jString:
		return v.s
	case jArray:
		out := []any{}
		for _, e := range v.kids {
			out = append(out, toAny(e.val))
		}
		return out
	}
	out := map[string]any{}
	for _, m := range v.kids {
		out[m.key] = toAny(m.val)
	}
	return out
}

// strictMatchesJSON checks that whatever the strict parser accepts,
// encoding/json reads as the same tree.
// It reports whether the strict parser accepted b.
func strictMatchesJSON(t *testing.T, b []byte) bool {
	t.Helper()
	v, err := parseStrict("test", b, MaxEnvelopeSize)
	if err != nil {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var want any
	if err := d.Decode(&want); err != nil {
		t.Fatalf("strict parser accepted %q, encoding/json refuses it: %v", b, err)
	}
	if got := toAny(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: strict parser read %#v, encoding/json %#v", b, got, want)
	}
	return true
}

var strictSeeds = []string{
	`{}`, `[]`, `[[],[[]],{}]`, `{"a":[1,2,{"b":[3,{"c":"d"}]}],"e":{"f":[]},"g":"h"}`,
	`{"a":{"b":{"c":{"d":[1,[2,[3,[4]]]]}}},"z":[{"y":1},{"x":[true,false,null]}]}`,
	`["\u00e9\ud83d\ude00\n\"\\\/", "plain", "caf\u00e9"]`,
	`{"k":"v","K":"w"}`, ` [ 1 , -2 , 0 ] `, `"\u0000"`, `{"a":1,"a":2}`, `[1.5]`, `[1e3]`,
}

// TestStrictMatchesJSON runs the comparison on hand-made documents and on
// every section of the test vectors (envelopes and their payloads).
func TestStrictMatchesJSON(t *testing.T) {
	accepted := 0
	for _, s := range strictSeeds {
		if strictMatchesJSON(t, []byte(s)) {
			accepted++
		}
	}
	files, _ := filepath.Glob("../testdata/trust/*.txt")
	if len(files) == 0 {
		t.Fatal("no test vectors found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range bytes.Split(b, []byte("\n--- ")) {
			if i := bytes.IndexByte(part, '\n'); i >= 0 {
				body := part[i+1:]
				if strictMatchesJSON(t, body) {
					accepted++
				}
				if env, err := ParseEnvelope(body); err == nil && strictMatchesJSON(t, env.Payload) {
					accepted++
				}
			}
		}
	}
	// Most vector documents and their payloads are valid JSON: make sure
	// the comparison really ran on them.
	if accepted < 100 {
		t.Fatalf("only %d documents compared", accepted)
	}
}

// FuzzStrictMatchesJSON: the strict parser never reads a document
// differently from encoding/json (it only refuses more).
func FuzzStrictMatchesJSON(f *testing.F) {
	for _, s := range strictSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { strictMatchesJSON(t, b) })
}
