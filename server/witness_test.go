package server

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/witness"
)

// forgedHash signs with one key under another key's hash.
type forgedHash struct {
	*tlog.Cosigner
	hash uint32
}

func (f *forgedHash) KeyHash() uint32 { return f.hash }

func testCosigner(t *testing.T, name string, seed byte) *tlog.Cosigner {
	t.Helper()
	c, err := tlog.NewCosigner(name, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)), func() time.Time { return time.Unix(1767225600, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLogWitnessCollection: the service sends each new checkpoint to its
// witnesses and serves it with the cosignatures that verify; a witness
// that is down, and one whose answer does not verify under its key, are
// logged at WARN and counted (never silent), a redirect is not followed,
// and the checkpoint is served with what was collected.
func TestLogWitnessCollection(t *testing.T) {
	lc := testLogConfig()
	logKey, err := lc.LogVerifierKey("shop")
	if err != nil {
		t.Fatal(err)
	}
	good := testCosigner(t, "good.witness.test", 21)
	gw, err := witness.New(witness.Config{Cosigner: good, Logs: []string{logKey}})
	if err != nil {
		t.Fatal(err)
	}
	goodSrv := httptest.NewServer(gw)
	defer goodSrv.Close()
	downSrv := httptest.NewServer(http.NotFoundHandler())
	downSrv.Close()
	// A witness that answers 200 with a line under its name and key hash
	// made with another key (it does not verify).
	liar := testCosigner(t, "liar.witness.test", 22)
	impostor := testCosigner(t, "liar.witness.test", 23)
	liarSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, tlog.MaxAddCheckpointSize)
		n, _ := r.Body.Read(b)
		req, err := tlog.ParseAddCheckpoint(b[:n])
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body, _, _ := bytes.Cut(req.Checkpoint, []byte("\n\n"))
		text := string(append(body, '\n'))
		signed, _ := note.Sign(&note.Note{Text: text}, &forgedHash{impostor, liar.KeyHash()})
		w.Write(signed[len(text)+1:])
	}))
	defer liarSrv.Close()
	// A witness URL that redirects to the good witness: not followed.
	redirect := httptest.NewServer(http.RedirectHandler(goodSrv.URL+"/add-checkpoint", http.StatusTemporaryRedirect))
	defer redirect.Close()
	moved := testCosigner(t, "moved.witness.test", 26)
	lc.Witnesses = []LogWitness{{URL: goodSrv.URL, Key: good.VerifierKey()}, {URL: downSrv.URL, Key: testCosigner(t, "down.witness.test", 24).VerifierKey()},
		{URL: liarSrv.URL, Key: liar.VerifierKey()}, {URL: redirect.URL, Key: moved.VerifierKey()}}
	lc.WitnessTimeout = 2 * time.Second
	var logs bytes.Buffer
	e := newEnv(t, func(c *Config) {
		c.Log = lc
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())

	cp := e.do("GET", "/v1/apps/shop/log/checkpoint", nil)
	if cp.code != 200 {
		t.Fatalf("checkpoint: %d", cp.code)
	}
	only := func(key string) *tlog.Verifiers {
		v, err := tlog.NewVerifiers(logKey, []string{key}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := only(good.VerifierKey()).Open(cp.body); err != nil {
		t.Fatalf("the good witness's cosignature: %v", err)
	}
	if _, err := only(liar.VerifierKey()).Open(cp.body); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("the liar's line: %v, want none kept", err)
	}
	if got := gw.Latest(LogOrigin(lc.Name, "shop")); got.Size != 2 {
		t.Fatalf("the witness cosigned size %d, want 2", got.Size)
	}
	m := string(e.do("GET", "/metrics", nil).body)
	for _, want := range []string{
		`pinset_log_witness_requests_total{result="cosigned",witness="good.witness.test"} 2`,
		`pinset_log_witness_requests_total{result="error",witness="down.witness.test"} 2`,
		`pinset_log_witness_requests_total{result="invalid",witness="liar.witness.test"} 2`,
		`pinset_log_witness_requests_total{result="error",witness="moved.witness.test"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics without %s", want)
		}
	}
	for _, want := range []string{"did not cosign", "without a valid cosignature", "fewer witness cosignatures"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no WARN %q in:\n%s", want, logs.String())
		}
	}
}

// TestLogWitnessRetry: a witness that was down when a checkpoint was
// signed is asked again in the background when the checkpoint is re-read
// (not while the client waits), and the checkpoint is then served with
// its cosignature.
func TestLogWitnessRetry(t *testing.T) {
	lc := testLogConfig()
	logKey, _ := lc.LogVerifierKey("shop")
	c := testCosigner(t, "flaky.witness.test", 25)
	w, err := witness.New(witness.Config{Cosigner: c, Logs: []string{logKey}})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(rw, "maintenance", http.StatusServiceUnavailable)
			return
		}
		<-release // back, but slow
		w.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	lc.Witnesses = []LogWitness{{URL: srv.URL, Key: c.VerifierKey()}}
	lc.WitnessTimeout = 30 * time.Second
	e := newEnv(t, func(c *Config) { c.Log = lc; c.RefreshInterval = time.Second })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	v, err := tlog.NewVerifiers(logKey, []string{c.VerifierKey()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(e.do("GET", "/v1/apps/shop/log/checkpoint", nil).body); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("witness down: %v, want no cosignature", err)
	}
	down.Store(false)
	e.clock.Add(2 * time.Second) // the checkpoint is re-read: the retry starts
	served := make(chan int)
	go func() { served <- e.do("GET", "/v1/apps/shop/log/checkpoint", nil).code }()
	select {
	case code := <-served:
		if code != 200 {
			t.Fatalf("checkpoint: %d", code)
		}
	case <-time.After(2 * time.Second):
		close(release)
		t.Fatal("the client's request waited for the witness")
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Open(e.do("GET", "/v1/apps/shop/log/checkpoint", nil).body)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witness's cosignature never came: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := w.Latest(LogOrigin(lc.Name, "shop")); got.Size != 2 {
		t.Fatalf("the witness cosigned size %d, want 2", got.Size)
	}
}
