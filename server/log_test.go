package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/store"
	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

func testLogConfig() *LogConfig {
	return &LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), Name: "pins.example.test"}
}

func logVerifiers(t testing.TB, c *LogConfig) *tlog.Verifiers {
	k, err := c.LogVerifierKey("shop")
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifiers(k, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLogProofWithManifest: every manifest served carries a proof of its
// inclusion in the app's log against a signed checkpoint, and a
// consistency proof from the size the client says it holds.
func TestLogProofWithManifest(t *testing.T) {
	lc := testLogConfig()
	e := newEnv(t, func(c *Config) { c.Log = lc })
	v := logVerifiers(t, lc)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())

	r := e.do("GET", "/v1/apps/shop/pins.json", nil)
	if r.code != 200 || r.h.Get("Vary") != "Accept-Encoding, Pinset-Log-Size" {
		t.Fatalf("pins.json: %d %v", r.code, r.h)
	}
	proof, err := base64.StdEncoding.DecodeString(r.h.Get(HeaderLogProof))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tlog.VerifyBundle(v, proof, "shop", tlog.KindManifest, 1, r.body, tlog.Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Checkpoint.Size != 2 {
		t.Fatalf("checkpoint size %d, want 2 (root, manifest)", got.Checkpoint.Size)
	}
	held := got.Checkpoint
	// No proof on a 304.
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", r.h.Get("ETag")); r.code != 304 || r.h.Get(HeaderLogProof) != "" {
		t.Fatalf("304: %d %v", r.code, r.h)
	}

	for range 5 {
		e.mustPublish("pins", e.repo.PublishManifest(nil))
	}
	r = e.do("GET", "/v1/apps/shop/pins.json", nil, HeaderLogSize, strconv.FormatInt(held.Size, 10))
	proof, _ = base64.StdEncoding.DecodeString(r.h.Get(HeaderLogProof))
	got, err = tlog.VerifyBundle(v, proof, "shop", tlog.KindManifest, 6, r.body, held)
	if err != nil {
		t.Fatalf("with consistency from %d: %v", held.Size, err)
	}
	if got.Checkpoint.Size != 7 {
		t.Fatalf("size %d", got.Checkpoint.Size)
	}
	// Without Pinset-Log-Size: no consistency proof, refused by a client
	// that holds a checkpoint.
	r = e.do("GET", "/v1/apps/shop/pins.json", nil)
	proof, _ = base64.StdEncoding.DecodeString(r.h.Get(HeaderLogProof))
	if _, err := tlog.VerifyBundle(v, proof, "shop", tlog.KindManifest, 6, r.body, held); !errors.Is(err, tlog.ErrInconsistent) {
		t.Fatalf("no size sent: %v", err)
	}

	// The checkpoint, tiles and entry bundle rebuild the same tree.
	cpr := e.do("GET", "/v1/apps/shop/log/checkpoint", nil)
	cp, err := v.Open(cpr.body)
	if err != nil || cp != got.Checkpoint {
		t.Fatalf("checkpoint %+v %v, want %+v", cp, err, got.Checkpoint)
	}
	eb := e.do("GET", "/v1/apps/shop/log/tile/entries/000.p/7", nil)
	recs, err := tlog.ParseEntryBundle(eb.body, 7)
	if err != nil {
		t.Fatalf("entries %d %q: %v", eb.code, eb.body, err)
	}
	mem := &tlog.Memory{}
	for _, rec := range recs {
		mem.Append(rec)
	}
	if h, _ := mem.TreeHash(7); h != cp.Hash {
		t.Fatal("entries do not give the checkpoint's hash")
	}
	tile := e.do("GET", "/v1/apps/shop/log/tile/0/000.p/7", nil)
	if tile.code != 200 || len(tile.body) != 7*32 {
		t.Fatalf("tile: %d %d bytes", tile.code, len(tile.body))
	}
	for i := range 7 {
		if !bytes.Equal(tile.body[32*i:32*i+32], func() []byte { h := tlog.RecordHash(recs[i]); return h[:] }()) {
			t.Fatalf("tile hash %d", i)
		}
	}
	for _, p := range []string{"tile/0/000.p/8", "tile/entries/000.p/8", "tile/1/000.p/1", "tile/0/000", "tile/0/x001/000"} {
		if r := e.do("GET", "/v1/apps/shop/log/"+p, nil); r.code != 404 {
			t.Errorf("%s beyond the log: %d", p, r.code)
		}
	}
	m := e.do("GET", "/v1/apps/shop/log/manifests/3.json", nil)
	if rec, _ := tlog.ParseRecord(recs[3]); m.code != 200 || !rec.Matches("shop", tlog.KindManifest, 3, m.body) {
		t.Fatalf("logged manifest 3: %d", m.code)
	}
}

// TestLogWithoutKey: without a log key the log is kept but not served,
// and manifests carry no proof.
func TestLogWithoutKey(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil); r.h.Get(HeaderLogProof) != "" || r.h.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("headers %v", r.h)
	}
	if r := e.do("GET", "/v1/apps/shop/log/checkpoint", nil); r.code != 404 || r.apiErr(t).Code != "no_log" {
		t.Fatalf("checkpoint: %d %s", r.code, r.body)
	}
	if n, _ := e.st.LogSize(t.Context(), "shop"); n != 2 {
		t.Fatalf("log size %d", n)
	}
}

// TestLogRootNamesLog: a root naming this service's log key is
// published, and a client state built on it accepts the manifest served
// with its proof (and refuses it without); a root naming another log key
// is refused.
func TestLogRootNamesLog(t *testing.T) {
	lc := testLogConfig()
	e := newEnv(t, func(c *Config) { c.Log = lc })
	key, _ := lc.LogVerifierKey("shop")
	e.repo.Log = &trust.Log{Key: key}
	other, _ := (&LogConfig{Key: lc.Key, Name: "elsewhere.example"}).LogVerifierKey("shop")
	e.repo.Roots, e.repo.Manifests, e.repo.ManifestVersion = nil, nil, 0
	bad := e.repo.Sign(trust.PayloadTypeRoot, func() []byte {
		d := e.repo.RootDoc(1)
		d.Log = &trust.Log{Key: other}
		b, _ := d.Marshal()
		return b
	}(), e.repo.RootKeys[:2]...)
	if r := e.publish("root", bad); r.code != 409 || r.apiErr(t).Code != "log_key" {
		t.Fatalf("root naming another log: %d %s", r.code, r.body)
	}
	e.repo.PublishRootSignedBy(e.repo.RootDoc(1), e.repo.RootKeys[:2]...)
	e.repo.PublishManifest(nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	st, err := trust.NewState(e.repo.Root(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/apps/shop/pins.json", nil)
	proof, _ := base64.StdEncoding.DecodeString(r.h.Get(HeaderLogProof))
	now := e.clock.Now()
	if _, err := st.UpdateManifest(r.body, now); !errors.Is(err, trust.ErrNotLogged) {
		t.Fatalf("without the proof: %v", err)
	}
	if _, err := st.UpdateManifestWithProof(r.body, proof, now); err != nil {
		t.Fatalf("with the proof: %v", err)
	}
	// A root naming the log on a service without a log key.
	e2 := newEnv(t, nil)
	if r := e2.publish("root", e.repo.Root()); r.code != 409 || r.apiErr(t).Code != "log_key" {
		t.Fatalf("no log key: %d %s", r.code, r.body)
	}
}

// logReads counts the store's log reads (a real SQLite store underneath).
type logReads struct {
	store.Store
	n atomic.Int64
}

func (c *logReads) LogSize(ctx context.Context, app string) (int64, error) {
	c.n.Add(1)
	return c.Store.LogSize(ctx, app)
}
func (c *logReads) LogHashes(ctx context.Context, app string, ix []int64) ([]tlog.Hash, error) {
	c.n.Add(1)
	return c.Store.LogHashes(ctx, app, ix)
}
func (c *logReads) LogRecords(ctx context.Context, app string, start, end int64) ([][]byte, error) {
	c.n.Add(1)
	return c.Store.LogRecords(ctx, app, start, end)
}
func (c *logReads) LogIndex(ctx context.Context, app, kind string, version int64) (int64, error) {
	c.n.Add(1)
	return c.Store.LogIndex(ctx, app, kind, version)
}

// TestLogProofBuiltAtPublication: a manifest's publication signs the new
// checkpoint and builds the proofs clients will ask for (from the tree
// size of the checkpoint served until then, and from none), so the
// clients after it get the proof from memory, without reading the store.
func TestLogProofBuiltAtPublication(t *testing.T) {
	lc := testLogConfig()
	sq, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &logReads{Store: sq}
	e := newEnvStore(t, st, func(c *Config) { c.Log = lc; c.RefreshInterval = time.Hour })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	e.mustPublish("pins", e.repo.PublishManifest(nil))
	snap, ok := e.srv.tlog.last("shop")
	if !ok || snap.cp.Size != 3 {
		t.Fatalf("no checkpoint of size 3 after the publication: %+v", snap)
	}
	before := st.n.Load()
	for _, held := range []string{"2", ""} {
		var hdr []string
		if held != "" {
			hdr = []string{HeaderLogSize, held}
		}
		r := e.do("GET", "/v1/apps/shop/pins.json", nil, hdr...)
		if r.code != 200 || r.h.Get(HeaderLogProof) == "" {
			t.Fatalf("pins.json (holding %q): %d, proof %q", held, r.code, r.h.Get(HeaderLogProof))
		}
	}
	if n := st.n.Load() - before; n != 0 {
		t.Fatalf("%d log reads from the store for proofs built at publication, want 0", n)
	}
	// A size no one asked for yet is built on demand (and read).
	e.do("GET", "/v1/apps/shop/pins.json", nil, HeaderLogSize, "1")
	if st.n.Load() == before {
		t.Fatal("a proof from size 1 came without reading the store")
	}
}
