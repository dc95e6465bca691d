package pin_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

// nodeDriver runs the Node.js code of docs/pins.md ("### In Node.js")
// followed by a small driver:
//
//	node script file PEM...                      one pin per file
//	node script connect PORT NAME CAFILE PINS    JSON: the handshake's outcome
const nodeDriver = `
const fs = require('node:fs');
const [mode, ...args] = process.argv.slice(2);
if (mode === 'file') {
  for (const f of args) console.log(spkiPin(fs.readFileSync(f)));
} else {
  const [port, servername, caFile, pins] = args;
  const s = connectPinned({ host: '127.0.0.1', port: Number(port), servername, ca: fs.readFileSync(caFile) }, pins.split(','));
  s.on('secureConnect', () => {
    const c = s.getPeerCertificate();
    console.log(JSON.stringify({ ok: true, leaf: spkiPin(c.raw), pubkeySHA256: crypto.createHash('sha256').update(c.pubkey).digest('base64'), pubkeyLen: c.pubkey.length }));
    s.destroy();
  });
  s.on('error', (e) => { console.log(JSON.stringify({ ok: false, error: e.message })); });
}
`

// nodeScript writes the docs' code and the driver to a file.
func nodeScript(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required in CI (Debian package: nodejs)")
		}
		t.Skip("node not found; install Node.js to check the Node code of docs/pins.md against pinset's pins")
	}
	f, err := os.Open(filepath.Join("..", "docs", "pins.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var code strings.Builder
	section, inBlock, done := false, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() && !done {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			section = line == "### In Node.js"
		case section && line == "```js":
			inBlock = true
		case inBlock && line == "```":
			done = true
		case inBlock:
			code.WriteString(line + "\n")
		}
	}
	if !done || !strings.Contains(code.String(), "function spkiPin") || !strings.Contains(code.String(), "function connectPinned") {
		t.Fatal("docs/pins.md: no ```js block with spkiPin and connectPinned under \"### In Node.js\"")
	}
	path := filepath.Join(t.TempDir(), "pin.js")
	if err := os.WriteFile(path, []byte(code.String()+nodeDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runNode(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestNodePinOfPEM: the docs' spkiPin gives pinset's pin for a certificate
// of every key type.
func TestNodePinOfPEM(t *testing.T) {
	script := nodeScript(t)
	dir := t.TempDir()
	args := []string{script, "file"}
	var want []string
	for _, kt := range pki.KeyTypes {
		h := hierarchy(t, kt)
		file := filepath.Join(dir, string(kt)+".pem")
		if err := os.WriteFile(file, h.Leaf.CertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, file)
		want = append(want, pin.FromCertificate(h.Leaf.Cert).String())
	}
	got := strings.Split(runNode(t, args...), "\n")
	if len(got) != len(want) {
		t.Fatalf("node printed %d pins for %d certificates: %q", len(got), len(want), got)
	}
	for i, kt := range pki.KeyTypes {
		if got[i] != want[i] {
			t.Errorf("%s: node %s, pinset %s", kt, got[i], want[i])
		}
	}
}

// TestNodePinnedConnect: the docs' connectPinned, run by node against a Go
// TLS server on loopback, accepts the leaf's pin and refuses another; and
// Node's cert.pubkey is not the SPKI for ECDSA (its SHA-256 is not the pin),
// which is why the docs hash the SPKI from cert.raw.
func TestNodePinnedConnect(t *testing.T) {
	script := nodeScript(t)
	const host = "api.pinset.test"
	for _, tc := range []struct {
		kt        pki.KeyType
		pubkeyLen int
		isSPKI    bool
	}{
		{pki.P256, 65, false},
		{pki.RSA2048, 294, true},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			// Node checks validity against the real clock.
			h := pki.Must(pki.NewHierarchy(pki.Template{KeyType: tc.kt}, host))
			port := serveTLS(t, h.Leaf.TLSCertificate())
			ca := filepath.Join(t.TempDir(), "root.pem")
			if err := os.WriteFile(ca, h.Root.CertPEM(), 0o644); err != nil {
				t.Fatal(err)
			}
			leaf := pin.FromCertificate(h.Leaf.Cert)
			backup := pin.Pin(sha256.Sum256([]byte("backup")))

			var res struct {
				OK           bool
				Error        string
				Leaf         string
				PubkeySHA256 string
				PubkeyLen    int
			}
			out := runNode(t, script, "connect", strconv.Itoa(port), host, ca, leaf.String()+","+backup.String())
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("node printed %q: %v", out, err)
			}
			if !res.OK || res.Leaf != leaf.String() {
				t.Fatalf("pinned to the leaf: %+v, want ok with pin %s", res, leaf)
			}
			if res.PubkeyLen != tc.pubkeyLen || (res.PubkeySHA256 == leaf.String()) != tc.isSPKI {
				t.Errorf("cert.pubkey: %d bytes, its SHA-256 equals the pin: %v; want %d bytes, %v", res.PubkeyLen, res.PubkeySHA256 == leaf.String(), tc.pubkeyLen, tc.isSPKI)
			}

			out = runNode(t, script, "connect", strconv.Itoa(port), host, ca, backup.String())
			res.OK, res.Error = false, ""
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("node printed %q: %v", out, err)
			}
			if res.OK || !strings.Contains(res.Error, "pin mismatch") || !strings.Contains(res.Error, leaf.String()) {
				t.Fatalf("pinned to another key: %+v, want a pin mismatch naming %s", res, leaf)
			}
		})
	}
}

// serveTLS runs a loopback TLS server (enforcetest.Serve) and returns its
// port.
func serveTLS(t *testing.T, cert tls.Certificate) int {
	t.Helper()
	_, port, err := net.SplitHostPort(enforcetest.Serve(t, cert))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}
