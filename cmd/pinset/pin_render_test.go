package main

import (
	"bytes"
	"testing"

	"pinset.dev/pinset/pin"
)

// renderPins serves files and --connect alike: a file's pins are printed
// as read, a connection's once each and only from verified chains (unless
// none verified), and a file that failed shows nothing on standard output.
func TestRenderPinsOneRenderer(t *testing.T) {
	a, b := pin.Pin{1}, pin.Pin{2}
	yes, no := true, false
	file := pinJSONInput{Input: "f.pem", Items: []pinJSONItem{{Pin: a}, {Pin: a}}}
	failed := pinJSONInput{Input: "bad.pem", Error: "bad.pem: no PEM", Items: []pinJSONItem{}}
	var out bytes.Buffer
	if err := renderPins(&out, "okhttp", []pinJSONInput{failed, file}, false); err != nil {
		t.Fatal(err)
	}
	if want := a.Format(pin.OkHttp) + "\n" + a.Format(pin.OkHttp) + "\n"; out.String() != want {
		t.Errorf("files: %q, want %q", out.String(), want)
	}
	verified := pinJSONInput{Input: "h", notes: true, Items: []pinJSONItem{{Pin: a, Served: &yes, Verified: &yes}, {Pin: b, Served: &yes, Verified: &no}}}
	again := pinJSONInput{Input: "h", notes: true, Items: []pinJSONItem{{Pin: a, Served: &yes, Verified: &yes}}}
	out.Reset()
	if err := renderPins(&out, "base64", []pinJSONInput{verified, again}, true); err != nil {
		t.Fatal(err)
	}
	if want := a.String() + "\n"; out.String() != want {
		t.Errorf("--connect: %q, want %q", out.String(), want)
	}
	unverified := pinJSONInput{Input: "h", notes: true, unverified: true, Items: []pinJSONItem{{Pin: b, Served: &yes, Verified: &no}}}
	out.Reset()
	if err := renderPins(&out, "base64", []pinJSONInput{unverified}, true); err != nil {
		t.Fatal(err)
	}
	if want := b.String() + "\n"; out.String() != want {
		t.Errorf("--connect, unverified chain: %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := renderPins(&out, "text", []pinJSONInput{failed, file}, false); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(out.Bytes(), []byte("\n")) || !bytes.Contains(out.Bytes(), []byte(a.String())) {
		t.Errorf("text: %q", out.String())
	}
}
