package server

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/store"
	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

// LogConfig is the transparency log's signing key (docs/trust.md section
// 12). Every app's log is kept in the store whatever the configuration;
// with a LogConfig the service signs checkpoints, serves the log under
// /v1/apps/{app}/log/ and hands clients a proof with each manifest.
type LogConfig struct {
	// Key signs checkpoints (Ed25519). Keep its file 0600.
	Key ed25519.PrivateKey
	// Name prefixes each app's log origin: the log of app A is named
	// Name + "/" + A, which is also its key's name in the note verifier
	// key a root names (LogVerifierKey).
	Name string
	// Witnesses are asked to cosign every new checkpoint (optional).
	Witnesses []LogWitness
	// WitnessClient sends the witness requests (nil: a client with Go's
	// default transport); WitnessTimeout bounds each exchange (zero:
	// DefaultWitnessTimeout).
	WitnessClient  *http.Client
	WitnessTimeout time.Duration
}

// Request and response headers of the log proof (docs/api.md).
const (
	// HeaderLogSize: the client's newest checkpoint's tree size, so that
	// the proof carries a consistency proof from it.
	HeaderLogSize = "Pinset-Log-Size"
	// HeaderLogProof: base64 of a tlog.Bundle for the manifest served.
	HeaderLogProof = "Pinset-Log-Proof"
)

// LogOrigin returns the origin of app's log under name.
func LogOrigin(name, app string) string { return name + "/" + app }

// LogVerifierKey returns the note verifier key of app's log: the value
// of a root's log.key for clients to require proofs from this service.
func (c *LogConfig) LogVerifierKey(app string) (string, error) {
	s, err := tlog.NewSigner(LogOrigin(c.Name, app), c.Key)
	if err != nil {
		return "", err
	}
	return s.VerifierKey(), nil
}

// logService signs and serves the logs, caching one checkpoint per app
// (refreshed like the documents) and the proofs built on it.
type logService struct {
	cfg       *LogConfig
	st        store.Store
	now       func() time.Time
	interval  time.Duration
	apps      sync.Map // app -> *logSnap (deleted on a local publish)
	lastSnaps sync.Map // app -> *logSnap, the newest built (kept)
	proofs    sync.Map // "app/version/size/gen/client" -> string (header value)
	nproofs   atomic.Int64

	// Witnesses (witness.go).
	witnesses      []*witnessClient
	witnessHTTP    *http.Client
	witnessTimeout time.Duration
	witnessResult  func(witness, result string)
	logger         *slog.Logger
	builds         [64]sync.Mutex // by a hash of the app: one checkpoint built at a time per app
	gen            atomic.Uint64
	retrying       sync.Map // app -> true while retryWitnesses runs
}

type logSnap struct {
	loaded   time.Time
	cp       tlog.Checkpoint
	signed   []byte
	gen      uint64          // changes whenever signed does (proof cache key)
	cosigned map[string]bool // witnesses whose cosignature signed holds
}

const maxCachedProofs = 4096

func newLogService(cfg *LogConfig, st store.Store, interval time.Duration, now func() time.Time, logger *slog.Logger, witnessResult func(witness, result string)) (*logService, error) {
	ws, err := newWitnessClients(cfg.Witnesses)
	if err != nil {
		return nil, err
	}
	l := &logService{cfg: cfg, st: st, now: now, interval: interval, witnesses: ws, witnessHTTP: cfg.WitnessClient,
		witnessTimeout: cfg.WitnessTimeout, logger: logger, witnessResult: witnessResult}
	// Redirects are not followed: the witness is the URL configured (a
	// redirect could lead a POST elsewhere, to plain http too).
	hc := http.Client{}
	if l.witnessHTTP != nil {
		hc = *l.witnessHTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	l.witnessHTTP = &hc
	if l.witnessTimeout <= 0 {
		l.witnessTimeout = DefaultWitnessTimeout
	}
	return l, nil
}

// checkpoint returns app's signed checkpoint, re-read from the store at
// most once per interval (and at once after a local publish, or when
// fresh is set). A new tree is signed and sent to the witnesses; the same
// tree keeps its note, and only witnesses that have not cosigned it are
// asked again.
func (l *logService) checkpoint(ctx context.Context, app string, fresh bool) (*logSnap, error) {
	old, ok := l.apps.Load(app)
	if ok && !fresh {
		if s := old.(*logSnap); l.now().Sub(s.loaded) < l.interval {
			return s, nil
		}
	}
	unlock := l.lockApp(app)
	defer unlock()
	if v, ok := l.apps.Load(app); ok && v != old && !fresh {
		return v.(*logSnap), nil // built while this request waited
	}
	n, err := l.st.LogSize(ctx, app)
	if err != nil {
		return nil, err
	}
	h, err := tlog.TreeHash(n, l.hashes(ctx, app))
	if err != nil {
		return nil, err
	}
	signer, err := tlog.NewSigner(LogOrigin(l.cfg.Name, app), l.cfg.Key)
	if err != nil {
		return nil, err
	}
	cp := tlog.Checkpoint{Origin: signer.Name(), Size: n, Hash: h}
	s := &logSnap{loaded: l.now(), cp: cp}
	if prev, ok := l.last(app); ok && prev.cp == cp {
		// The same tree: the same note; witnesses missing from it are
		// asked again in the background, not while a client waits.
		s.signed, s.gen, s.cosigned = prev.signed, prev.gen, prev.cosigned
		if len(s.cosigned) < len(l.witnesses) {
			l.retryWitnesses(app, s)
		}
	} else {
		if s.signed, err = signer.SignCheckpoint(cp); err != nil {
			return nil, err
		}
		if n > 0 && len(l.witnesses) > 0 {
			s.signed, s.cosigned = l.cosign(ctx, app, cp, s.signed, nil)
		}
		s.gen = l.gen.Add(1)
	}
	if n > 0 {
		l.apps.Store(app, s)
		l.lastSnaps.Store(app, s)
	}
	return s, nil
}

// retryWitnesses asks the witnesses missing from base's note again, in
// the background (one retry at a time per app, each witness bounded by
// its timeout), and serves the note with what they add if the tree has
// not changed meanwhile.
func (l *logService) retryWitnesses(app string, base *logSnap) {
	if _, busy := l.retrying.LoadOrStore(app, true); busy {
		return
	}
	go func() {
		defer l.retrying.Delete(app)
		signed, cosigned := l.cosign(context.Background(), app, base.cp, base.signed, base.cosigned)
		if len(cosigned) == len(base.cosigned) {
			return
		}
		unlock := l.lockApp(app)
		defer unlock()
		cur, ok := l.last(app)
		if !ok || cur.cp != base.cp || len(cur.cosigned) >= len(cosigned) {
			return
		}
		n := &logSnap{loaded: cur.loaded, cp: cur.cp, signed: signed, cosigned: cosigned, gen: l.gen.Add(1)}
		if _, ok := l.apps.Load(app); ok {
			l.apps.Store(app, n)
		}
		l.lastSnaps.Store(app, n)
	}()
}

// lockApp serialises building app's checkpoint (so that each witness sees
// one request per new checkpoint) without holding up most other apps: a
// fixed set of locks, by a hash of the name, so requests naming any app
// add no state.
func (l *logService) lockApp(app string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(app))
	mu := &l.builds[h.Sum32()%uint32(len(l.builds))]
	mu.Lock()
	return mu.Unlock
}

// last returns the newest snapshot built for app, even one invalidated.
func (l *logService) last(app string) (*logSnap, bool) {
	v, ok := l.lastSnaps.Load(app)
	if !ok {
		return nil, false
	}
	return v.(*logSnap), true
}

func (l *logService) invalidate(app string) { l.apps.Delete(app) }

func (l *logService) hashes(ctx context.Context, app string) tlog.HashReader {
	return tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) { return l.st.LogHashes(ctx, app, ix) })
}

// manifestProof returns the Pinset-Log-Proof value for manifest version
// of app: the newest checkpoint, the manifest's record and inclusion
// proof, and a consistency proof with the client's tree size when it
// sent one (client 0: none). A client size beyond the log gets no
// consistency proof: the client refuses the proof, and says why.
func (l *logService) manifestProof(ctx context.Context, app string, version, client int64) (string, error) {
	snap, err := l.checkpoint(ctx, app, false)
	if err != nil {
		return "", err
	}
	if client > snap.cp.Size {
		if snap, err = l.checkpoint(ctx, app, true); err != nil {
			return "", err
		}
	}
	// Served from memory when built already (at publication, or for an
	// earlier client holding the same size): no store read.
	key, client := proofKey(app, version, snap, client)
	if v, ok := l.proofs.Load(key); ok {
		return v.(string), nil
	}
	idx, err := l.st.LogIndex(ctx, app, tlog.KindManifest, version)
	if err != nil {
		return "", fmt.Errorf("log index of manifest v%d: %w", version, err)
	}
	if idx >= snap.cp.Size {
		if snap, err = l.checkpoint(ctx, app, true); err != nil {
			return "", err
		}
		key, client = proofKey(app, version, snap, client)
	}
	recs, err := l.st.LogRecords(ctx, app, idx, idx+1)
	if err != nil {
		return "", err
	}
	b, err := tlog.Prove(l.hashes(ctx, app), snap.cp.Size, idx, recs[0], snap.signed, client)
	if err != nil {
		return "", err
	}
	v := base64.StdEncoding.EncodeToString(b.Marshal())
	if l.nproofs.Add(1) > maxCachedProofs {
		// Full: start afresh (proofs of older trees are no longer asked
		// for once clients move on).
		l.proofs.Clear()
		l.nproofs.Store(1)
	}
	l.proofs.Store(key, v)
	return v, nil
}

// proofKey is the proof cache's key for a client holding size client (a
// size beyond the snapshot's tree gets no consistency proof: 0).
func proofKey(app string, version int64, snap *logSnap, client int64) (string, int64) {
	if client > snap.cp.Size {
		client = 0
	}
	return fmt.Sprintf("%s/%d/%d/%d/%d", app, version, snap.cp.Size, snap.gen, client), client
}

// parseLogSize reads the Pinset-Log-Size request header: one decimal
// without leading zeros; anything else is ignored (no consistency proof).
func parseLogSize(r *http.Request) int64 {
	v := r.Header[HeaderLogSize]
	if len(v) != 1 || len(v[0]) == 0 || len(v[0]) > 18 || (len(v[0]) > 1 && v[0][0] == '0') {
		return 0
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

var (
	hText          = []string{"text/plain; charset=utf-8"}
	hOctets        = []string{"application/octet-stream"}
	hCheckpointTTL = []string{"public, max-age=5"}
	hPartialTTL    = []string{"public, max-age=5"}
	hVaryLog       = []string{"Accept-Encoding, " + HeaderLogSize}
)

// logFor answers 404 when the service has no log key or app is not valid.
func (s *Server) logFor(w http.ResponseWriter, app string) bool {
	if s.tlog == nil {
		writeError(w, http.StatusNotFound, "no_log", "this service keeps no signed transparency log (no transparency_log key configured)")
		return false
	}
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return false
	}
	return true
}

// handleLogCheckpoint serves GET /v1/apps/{app}/log/checkpoint.
func (s *Server) handleLogCheckpoint(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.logFor(w, app) {
		return
	}
	snap, err := s.tlog.checkpoint(r.Context(), app, false)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if snap.cp.Size == 0 {
		writeError(w, http.StatusNotFound, "not_found", "app "+app+" has an empty log")
		return
	}
	h := w.Header()
	h["Content-Type"], h["Cache-Control"], h["X-Content-Type-Options"] = hText, hCheckpointTTL, hNosniff
	w.Write(snap.signed)
}

// handleLogTile serves GET /v1/apps/{app}/log/tile/... (C2SP tlog-tiles:
// hash tiles and entry bundles). Full tiles never change.
func (s *Server) handleLogTile(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.logFor(w, app) {
		return
	}
	t, err := tlog.ParseTilePath("tile/" + r.PathValue("path"))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such tile: "+err.Error())
		return
	}
	ctx := r.Context()
	n, err := s.store.LogSize(ctx, app)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	// The tile must lie within the tree: hash k of tile level L (tree
	// level 8L) exists once (k+1) << 8L entries are logged.
	end := t.N*(1<<tlog.TileHeight) + int64(t.W)
	if end > n>>(tlog.TileHeight*max(t.L, 0)) {
		writeError(w, http.StatusNotFound, "not_found", "tile beyond the log's size")
		return
	}
	var body []byte
	if t.L < 0 {
		start := t.N * (1 << tlog.TileHeight)
		recs, err := s.store.LogRecords(ctx, app, start, start+int64(t.W))
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		body = tlog.EntryBundle(recs)
	} else {
		body, err = tlog.ReadTileData(t, s.tlog.hashes(ctx, app))
		if s.readFailed(w, r, err, "tile beyond the log's size") {
			return
		}
	}
	h := w.Header()
	h["Content-Type"], h["X-Content-Type-Options"] = hOctets, hNosniff
	h["Cache-Control"] = hImmutable
	if t.W < 1<<tlog.TileHeight {
		h["Cache-Control"] = hPartialTTL
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body)
}

// handleLogManifest serves GET /v1/apps/{app}/log/manifests/{N}.json: a
// logged manifest version, for auditors (its SHA-256 is in the log).
func (s *Server) handleLogManifest(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return
	}
	v, num, ok := docVersion(r.PathValue("file"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such manifest: want /v1/apps/{app}/log/manifests/{N}.json")
		return
	}
	d, err := s.store.ManifestVersion(r.Context(), app, v)
	if s.readFailed(w, r, err, "app "+app+" has no manifest version "+num) {
		return
	}
	serveDoc(w, r, newDoc(d), true)
}

// setManifestProof adds the log proof header for the manifest d being
// served (not on a 304: the client holds it already). A proof that
// cannot be built is logged and the manifest served without it: clients
// whose root requires the log then refuse it and say so (never silent).
func (s *Server) setManifestProof(w http.ResponseWriter, r *http.Request, app string, d *doc) {
	if s.tlog == nil {
		return
	}
	h := w.Header()
	h["Vary"] = hVaryLog
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatch(inm, d) {
		return
	}
	v, err := s.tlog.manifestProof(r.Context(), app, d.version, parseLogSize(r))
	if err != nil {
		s.log.Error("no log proof for the manifest", "app", app, "version", d.version, "err", err)
		return
	}
	h[HeaderLogProof] = []string{v}
}

// logPublished follows a local publication: the app's checkpoint is
// signed (and cosigned by the witnesses) at once rather than by the first
// client, and for a manifest (version > 0) the proofs most clients will
// ask for are built: from the tree size of the checkpoint served until now
// (what clients that took the previous manifest hold) and from none. A
// failure here is logged; the request path builds them again.
func (s *Server) logPublished(ctx context.Context, app string, version int64) {
	if s.tlog == nil {
		return
	}
	var held int64
	if prev, ok := s.tlog.last(app); ok {
		held = prev.cp.Size
	}
	s.tlog.invalidate(app)
	if _, err := s.tlog.checkpoint(ctx, app, true); err != nil {
		s.log.Error("signing the transparency log's checkpoint after a publication", "app", app, "err", err)
		return
	}
	if version == 0 {
		return
	}
	for _, client := range []int64{held, 0} {
		if _, err := s.tlog.manifestProof(ctx, app, version, client); err != nil {
			s.log.Error("building the log proof after a publication", "app", app, "version", version, "err", err)
			return
		}
	}
}

// checkRootLog refuses a root that names a transparency log other than
// this service's: its clients would refuse every manifest served.
func (s *Server) checkRootLog(app string, root *trust.Root) error {
	if root.Log == nil {
		return nil
	}
	if s.tlog == nil {
		return &PublishError{Status: http.StatusConflict, Code: "log_key", Err: fmt.Errorf("root v%d names the transparency log %s, but this service keeps no signed log: configure transparency_log in serve first", root.Version, logKeyName(root.Log.Key))}
	}
	want, err := s.cfg.Log.LogVerifierKey(app)
	if err != nil {
		return &PublishError{Status: http.StatusInternalServerError, Code: "internal", Err: err}
	}
	if root.Log.Key != want {
		return &PublishError{Status: http.StatusConflict, Code: "log_key", Err: fmt.Errorf("root v%d names the log key %s, but this service signs app %s's log with %s: clients would refuse every manifest", root.Version, root.Log.Key, app, want)}
	}
	return nil
}

func logKeyName(k string) string { name, _, _ := strings.Cut(k, "+"); return name }

// ReadLogKey reads the log's Ed25519 private key from a PKCS#8 PEM file
// (as `pinset key new NAME --alg ed25519` writes it). The file must not be
// readable by group or others (mode 0600): the key signs every checkpoint.
// A witness's key (pinset witness) is read alike: it cosigns them.
func ReadLogKey(path string, passphrase []byte) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: a checkpoint signing key must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := trust.ParsePrivateKeyPEM(b, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, ok := s.Private().(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a checkpoint signing key must be Ed25519 (pinset key new NAME --alg ed25519), not %s", path, s.Key.Alg)
	}
	return k, nil
}
