package urls

import (
	"testing"
	"unicode/utf16"
)

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestFind(t *testing.T) {
	data := []byte("x\x00http://api.example.com/v1?q=1\x00http://schemas.android.com/apk/res/android\x00" +
		"http://www.w3.org/2000/svg\x00http://www.apple.com/DTDs/PropertyList-1.0.dtd\x00http://\x00http://nodot\x00" +
		"http://api.example.com/v1?q=1\x00see http://10.0.2.2:8080/debug.\x00")
	data = append(data, utf16le("http://cdn.example.org/img")...)
	hits := Find("classes.dex", data)
	want := map[string]int{"http://api.example.com/v1?q=1": 2, "http://10.0.2.2:8080/debug": 1, "http://cdn.example.org/img": 1}
	if len(hits) != len(want) {
		t.Fatalf("hits %+v", hits)
	}
	for _, h := range hits {
		if want[h.URL] != h.Count || h.File != "classes.dex" {
			t.Errorf("hit %+v", h)
		}
	}
}

func TestIsLocal(t *testing.T) {
	for h, want := range map[string]bool{"localhost": true, "10.0.2.2": true, "127.0.0.1": true, "dev.localhost": true, "example.com": false} {
		if IsLocal(h) != want {
			t.Errorf("IsLocal(%q) != %v", h, want)
		}
	}
}
