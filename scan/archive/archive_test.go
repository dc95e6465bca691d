package archive

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func build(t *testing.T, files map[string][]byte, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: method})
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

func open(t *testing.T, b []byte, l Limits) (*Archive, error) {
	t.Helper()
	return New(bytes.NewReader(b), int64(len(b)), "app.apk", l)
}

func TestReadWithinLimits(t *testing.T) {
	b := build(t, map[string][]byte{"a.txt": []byte("hello"), "dir/b.bin": bytes.Repeat([]byte{1}, 1000)}, zip.Deflate)
	a, err := open(t, b, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Read("a.txt")
	if err != nil || string(got) != "hello" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if _, err := a.Read("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
}

func TestZipBombRatio(t *testing.T) {
	// 8 MiB of zeros deflates to about 8 KiB: a 1000:1 ratio.
	b := build(t, map[string][]byte{"classes.dex": make([]byte, 8<<20)}, zip.Deflate)
	a, err := open(t, b, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Read("classes.dex")
	if !errors.Is(err, ErrZipBomb) {
		t.Fatalf("err = %v, want ErrZipBomb", err)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.File != "app.apk" || ae.Entry != "classes.dex" {
		t.Fatalf("error does not name file and entry: %#v", err)
	}
	if !strings.Contains(err.Error(), "app.apk: classes.dex:") {
		t.Fatalf("message %q", err)
	}
}

func TestEntryAndTotalLimits(t *testing.T) {
	b := build(t, map[string][]byte{"a": bytes.Repeat([]byte("abcdefgh"), 1000), "b": bytes.Repeat([]byte("ijklmnop"), 1000)}, zip.Store)
	a, _ := open(t, b, Limits{MaxEntry: 4000, MaxTotal: 1 << 20})
	if _, err := a.Read("a"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("entry limit: %v", err)
	}
	a, _ = open(t, b, Limits{MaxEntry: 1 << 20, MaxTotal: 12000})
	if _, err := a.Read("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read("b"); !errors.Is(err, ErrTotal) {
		t.Fatalf("total limit: %v", err)
	}
}

// A central directory that understates an entry's size must not let the
// entry inflate past it.
func TestLyingSize(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	b := build(t, map[string][]byte{"x": data}, zip.Deflate)
	// Patch the uncompressed size in the central directory header.
	cd := bytes.LastIndex(b, []byte("PK\x01\x02"))
	binary.LittleEndian.PutUint32(b[cd+24:], 100)
	a, err := open(t, b, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read("x"); !errors.Is(err, ErrZipBomb) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
}

func TestOverlappingEntries(t *testing.T) {
	// Two central directory records pointing at the same local data: the
	// overlapping-file construction of non-recursive zip bombs.
	b := build(t, map[string][]byte{"a": []byte("payload-a"), "b": []byte("payload-b")}, zip.Store)
	cds := []int{}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		cds = append(cds, i+j)
		i += j + 4
	}
	if len(cds) != 2 {
		t.Fatalf("%d central records", len(cds))
	}
	first := binary.LittleEndian.Uint32(b[cds[0]+42:])
	binary.LittleEndian.PutUint32(b[cds[1]+42:], first)
	// Same name would be a duplicate; keep names, point both at entry a.
	_, err := open(t, b, DefaultLimits)
	if !errors.Is(err, ErrZipBomb) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a zip bomb or corrupt error", err)
	}
}

func TestTruncated(t *testing.T) {
	b := build(t, map[string][]byte{"AndroidManifest.xml": bytes.Repeat([]byte("x"), 5000)}, zip.Deflate)
	for _, n := range []int{0, 10, len(b) / 2, len(b) - 10} {
		_, err := open(t, b[:n], DefaultLimits)
		if err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.File != "app.apk" {
			t.Fatalf("truncated to %d: %v does not name the file", n, err)
		}
	}
	// Corrupt the entry data but keep the directory: the read fails cleanly.
	c := append([]byte{}, b...)
	for i := 40; i < 80; i++ {
		c[i] ^= 0xff
	}
	a, err := open(t, c, DefaultLimits)
	if err != nil {
		return
	}
	if _, err := a.Read("AndroidManifest.xml"); err == nil {
		t.Fatal("corrupt entry read without error")
	}
}

func TestTooManyEntries(t *testing.T) {
	files := map[string][]byte{}
	for i := range 20 {
		files[string(rune('a'+i))] = nil
	}
	b := build(t, files, zip.Store)
	if _, err := open(t, b, Limits{MaxEntry: 1 << 20, MaxTotal: 1 << 20, MaxEntries: 10}); !errors.Is(err, ErrZipBomb) {
		t.Fatalf("err = %v", err)
	}
}
