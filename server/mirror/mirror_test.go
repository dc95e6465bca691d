package mirror

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/nginxtest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/trust"
)

const app = "com.example.app"

// world is a signed repository (clienttest.Repo, whose own server is not
// used) and a mirror directory.
type world struct {
	repo  *ct.Repo
	clock *ct.Clock
	dir   Dir
	// sign makes manifest version v issued at issued, under the
	// repository's current root.
	sign func(v int, issued time.Time) []byte
}

// pol is manifest version v under the repository's current root.
func (w *world) pol(v int) []byte { return w.sign(v, ct.T0.Add(-time.Hour)) }

func newWorld(t *testing.T) *world {
	w := &world{repo: ct.NewRepo(t, app, "mirror"), clock: ct.NewClock(ct.T0), dir: Dir{Root: filepath.Join(t.TempDir(), "www")}}
	ca := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("mirror-pins")}))
	a := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"api.example.com"}, Rand: pki.NewDeterministicRand("a")}))
	b := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"api.example.com"}, Rand: pki.NewDeterministicRand("b")}))
	w.sign = func(v int, issued time.Time) []byte {
		return w.repo.Sign(uint64(v), issued, 30*24*time.Hour, ct.Pol("api.example.com", a.Pin(), b.Pin()))
	}
	return w
}

// tamper changes one character of the first signature.
func tamper(env []byte) []byte {
	out := bytes.Clone(env)
	i := bytes.Index(out, []byte(`"sig":`))
	j := i + bytes.IndexByte(out[i+6:], '"') + 7 // the signature's first character
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

func (w *world) path(p string) string { return filepath.Join(w.dir.Root, "v1", "apps", app, p) }

// TestPublishVerifies: the mirror accepts what the service would and
// refuses the rest, leaving its files as they were.
func TestPublishVerifies(t *testing.T) {
	w := newWorld(t)
	m1 := w.pol(1)
	if _, err := w.dir.Publish(app, nil, m1, w.clock.Now()); err == nil {
		t.Fatal("manifest without a root accepted")
	}
	if _, err := w.dir.Publish(app, [][]byte{w.repo.RootBytes(1)}, m1, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	m2 := w.pol(2)
	for name, c := range map[string]struct {
		app      string
		roots    [][]byte
		manifest []byte
		want     error
	}{
		"same bytes":                {app, nil, m1, nil}, // no change
		"same version, other bytes": {app, nil, w.sign(1, ct.T0.Add(-2*time.Hour)), trust.ErrRollback},
		"wrong app":                 {"other.app", [][]byte{w.repo.RootBytes(1)}, nil, trust.ErrWrongApp},
		"tampered":                  {app, nil, tamper(m2), nil},
	} {
		before, _ := os.ReadFile(w.path("pins.json"))
		_, err := w.dir.Publish(c.app, c.roots, c.manifest, w.clock.Now())
		after, _ := os.ReadFile(w.path("pins.json"))
		switch {
		case name == "same bytes":
			if err != nil || !bytes.Equal(after, m1) {
				t.Errorf("%s: %v", name, err)
			}
		case err == nil || (c.want != nil && !errors.Is(err, c.want)):
			t.Errorf("%s: %v, want %v", name, err, c.want)
		case !bytes.Equal(before, after):
			t.Errorf("%s: refused, yet pins.json changed", name)
		}
	}
	if _, err := w.dir.Publish(app, nil, m2, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestWriteOrder: roots are written before root.json and the manifest
// last, so a write that fails part way never leaves a manifest whose root
// is missing. Here root v2 cannot be written (a directory is in its
// place): the manifest bound to it must not be written either.
func TestWriteOrder(t *testing.T) {
	w := newWorld(t)
	if err := w.dir.Write(app, []Root{{1, w.repo.RootBytes(1)}}, w.pol(1)); err != nil {
		t.Fatal(err)
	}
	w.repo.RotateRoot(false)
	m2 := w.pol(2)
	if err := os.MkdirAll(filepath.Join(w.path("roots"), "2.json", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := w.dir.Write(app, []Root{{1, w.repo.RootBytes(1)}, {2, w.repo.RootBytes(2)}}, m2)
	if err == nil {
		t.Fatal("write over a directory succeeded")
	}
	if got, _ := os.ReadFile(w.path("pins.json")); bytes.Equal(got, m2) {
		t.Error("the manifest was written although its root was not")
	}
	if got, _ := os.ReadFile(w.path("root.json")); !bytes.Equal(got, w.repo.RootBytes(1)) {
		t.Error("root.json moved on although root v2 was not written")
	}
	entries, _ := os.ReadDir(w.path(""))
	for _, e := range entries {
		if e.Name() != "roots" && e.Name() != "root.json" && e.Name() != "pins.json" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestNginxRotation serves the mirror with a real nginx and runs SDK
// clients through a root rotation (new pins key) against it: while the
// new root and manifest are written, a reader that finds the new manifest
// always finds its root; afterwards every client holds root v2 and
// manifest v2.
func TestNginxRotation(t *testing.T) {
	w := newWorld(t)
	root1, m1 := w.repo.RootBytes(1), w.pol(1)
	if _, err := w.dir.Publish(app, [][]byte{root1}, m1, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// nginx's workers may run as www-data: open the test's directories.
	for _, d := range []string{filepath.Dir(w.dir.Root), filepath.Dir(filepath.Dir(w.dir.Root))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tlsCA := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("origin-ca")}))
	leaf := pki.Must(tlsCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("origin")}))
	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "chain.pem"), filepath.Join(certDir, "key.pem")
	if err := os.WriteFile(certFile, leaf.ChainPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, leaf.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	n := nginxtest.StartStatic(t, "127.0.0.1", certFile, keyFile, w.dir.Root)
	base := fmt.Sprintf("https://127.0.0.1:%d", n.Port)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsCA.Pool()}}}

	const clients = 4
	var cs []*client.Client
	for range clients {
		c, err := client.New(client.Config{BundledRoot: root1, BundledManifest: m1, ServiceURL: base, HTTPClient: hc,
			Now: w.clock.Now, FetchTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatalf("refresh against the mirror: %v", err)
		}
		cs = append(cs, c)
	}

	// The rotation, with a reader checking the origin meanwhile.
	w.repo.RotateRoot(false)
	root2, m2 := w.repo.RootBytes(2), w.pol(2)
	get := func(p string) (int, []byte) {
		resp, err := hc.Get(base + "/v1/apps/" + app + "/" + p)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var done atomic.Bool
	var reads, sawNew atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000 && (!done.Load() || sawNew.Load() == 0); i++ {
			code, b := get("pins.json")
			reads.Add(1)
			if code == 200 && bytes.Equal(b, m2) {
				sawNew.Add(1)
				if code, _ := get("roots/2.json"); code != 200 {
					t.Errorf("manifest v2 served while roots/2.json answers %d", code)
					return
				}
			} else if code != 200 || !bytes.Equal(b, m1) {
				t.Errorf("pins.json: %d, %d bytes: neither manifest", code, len(b))
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := w.dir.Publish(app, [][]byte{root2}, m2, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	done.Store(true)
	wg.Wait()
	if sawNew.Load() == 0 {
		t.Fatalf("the reader never saw manifest v2 in %d reads", reads.Load())
	}
	for i, c := range cs {
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatalf("client %d after the rotation: %v", i, err)
		}
		if st := c.State(); st.RootVersion != 2 || st.ManifestVersion != 2 {
			t.Errorf("client %d holds root v%d, manifest v%d; want 2 and 2", i, st.RootVersion, st.ManifestVersion)
		}
	}
}
