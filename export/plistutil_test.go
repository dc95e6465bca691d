package export

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"howett.net/plist"

	"pinset.dev/pinset/internal/testtool"
)

// TestPlistutil checks the property lists with libplist's plistutil, an
// implementation independent of howett.net/plist: it must read the XML,
// convert it to a binary plist and back, and the round trip must decode to
// the same values.
func TestPlistutil(t *testing.T) {
	tool := testtool.Need(t, "plistutil", "apt-get install -y libplist-utils")
	for _, c := range cases {
		for _, format := range []string{"trustkit-ios", "ios-ats"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				res, err := Export(format, c.in(t))
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				src := filepath.Join(dir, "in.plist")
				bin := filepath.Join(dir, "out.bplist")
				back := filepath.Join(dir, "back.plist")
				if err := os.WriteFile(src, res.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{{"-i", src, "-f", "bin", "-o", bin}, {"-i", bin, "-f", "xml", "-o", back}} {
					if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
						t.Fatalf("plistutil %v: %v\n%s", args, err, out)
					}
				}
				b, err := os.ReadFile(bin)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b, []byte("bplist00")) {
					t.Fatalf("plistutil did not write a binary plist: %q", b[:min(len(b), 16)])
				}
				var orig, viaBinary any
				if _, err := plist.Unmarshal(res.Data, &orig); err != nil {
					t.Fatal(err)
				}
				if _, err := plist.Unmarshal(b, &viaBinary); err != nil {
					t.Fatalf("binary plist from plistutil: %v", err)
				}
				o, _ := plist.Marshal(orig, plist.XMLFormat)
				v, _ := plist.Marshal(viaBinary, plist.XMLFormat)
				if !bytes.Equal(o, v) {
					t.Errorf("plistutil round trip changed the values:\n%s\n---\n%s", o, v)
				}
			})
		}
	}
}
