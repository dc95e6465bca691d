package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// doc is one servable document: its bytes, their gzip form and ETags,
// computed once.
type doc struct {
	version  int64
	body     []byte
	gz       []byte // nil when gzip does not make it smaller
	etag     string // strong ETag of body
	etagGz   string // strong ETag of gz
	modified time.Time
	expires  time.Time
	// Header values, built once: a response only assigns these slices
	// (net/http never modifies them).
	hETag, hETagGz, hLen, hLenGz, hModified []string
}

var (
	hJSON      = []string{"application/json"}
	hVary      = []string{"Accept-Encoding"}
	hNosniff   = []string{"nosniff"}
	hGzip      = []string{"gzip"}
	hLatest    = []string{cacheLatest}
	hImmutable = []string{cacheImmutable}
)

func newDoc(d store.Document) *doc {
	sum := sha256.Sum256(d.Body)
	tag := hex.EncodeToString(sum[:16])
	x := &doc{version: d.Version, body: d.Body, etag: `"` + tag + `"`, etagGz: `"` + tag + `-gz"`,
		modified: d.CreatedAt, expires: d.Expires}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(d.Body)
	zw.Close()
	if buf.Len() < len(d.Body) {
		x.gz = buf.Bytes()
	}
	x.hETag, x.hETagGz = []string{x.etag}, []string{x.etagGz}
	x.hLen, x.hLenGz = []string{strconv.Itoa(len(x.body))}, []string{strconv.Itoa(len(x.gz))}
	if !x.modified.IsZero() {
		x.hModified = []string{x.modified.UTC().Format(http.TimeFormat)}
	}
	return x
}

// appDocs is a snapshot of one app's served state.
type appDocs struct {
	loaded   time.Time
	missing  bool // the app does not exist
	root     *doc
	manifest *doc
	policies *policy.Set // the current manifest's, for attributing reports
	// decoded is the current manifest, decoded once here for everything
	// the service does with it (CurrentManifest); decodeErr why not.
	decoded   *trust.Manifest
	decodeErr error
}

type appEntry struct {
	mu   sync.Mutex // held while refreshing
	snap atomic.Pointer[appDocs]
}

// docCache serves documents from memory, re-reading an app's state from
// the store at most once per interval (and at once after a local publish).
type docCache struct {
	st       store.Store
	interval time.Duration
	now      func() time.Time
	apps     sync.Map // app id -> *appEntry
	roots    sync.Map // "app/N" -> *doc; root versions never change
	nroots   atomic.Int64
}

const maxCachedRoots = 4096

func newDocCache(st store.Store, interval time.Duration, now func() time.Time) *docCache {
	return &docCache{st: st, interval: interval, now: now}
}

// get returns the app's snapshot, refreshing it when older than the
// interval. While one request refreshes, the others keep serving the
// previous snapshot.
func (c *docCache) get(ctx context.Context, app string) (*appDocs, error) {
	v, ok := c.apps.Load(app)
	if !ok {
		v, _ = c.apps.LoadOrStore(app, &appEntry{})
	}
	e := v.(*appEntry)
	snap := e.snap.Load()
	if snap != nil && c.now().Sub(snap.loaded) < c.interval {
		return snap, nil
	}
	if snap != nil {
		if !e.mu.TryLock() {
			return snap, nil
		}
	} else {
		e.mu.Lock()
		if s := e.snap.Load(); s != nil {
			e.mu.Unlock()
			return s, nil
		}
	}
	defer e.mu.Unlock()
	next, err := c.load(ctx, app, snap)
	if err != nil {
		if snap != nil {
			return snap, nil // serve the last good state while the store hiccups
		}
		return nil, err
	}
	if next.missing {
		// Do not let random app names grow the cache.
		c.apps.Delete(app)
	}
	e.snap.Store(next)
	return next, nil
}

// invalidate forces the next get to re-read the store. It waits for a
// refresh in progress, which may have read the store before the change.
func (c *docCache) invalidate(app string) {
	if v, ok := c.apps.Load(app); ok {
		e := v.(*appEntry)
		e.mu.Lock()
		e.snap.Store(nil)
		e.mu.Unlock()
	}
}

func (c *docCache) load(ctx context.Context, app string, prev *appDocs) (*appDocs, error) {
	a, err := c.st.App(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return &appDocs{loaded: c.now(), missing: true}, nil
	}
	if err != nil {
		return nil, err
	}
	next := &appDocs{loaded: c.now()}
	if prev != nil && prev.root != nil && prev.root.version == a.RootVersion {
		next.root = prev.root
	} else if a.RootVersion > 0 {
		d, err := c.st.LatestRoot(ctx, app)
		if err != nil {
			return nil, err
		}
		next.root = newDoc(d)
	}
	if prev != nil && prev.manifest != nil && prev.manifest.version == a.ManifestVersion {
		next.manifest, next.policies, next.decoded, next.decodeErr = prev.manifest, prev.policies, prev.decoded, prev.decodeErr
	} else if a.ManifestVersion > 0 {
		d, err := c.st.Manifest(ctx, app)
		if err != nil {
			return nil, err
		}
		next.manifest = newDoc(d)
		// Stored manifests were verified before publishing; decoding
		// them here serves to attribute HPKP reports to the app and the
		// monitor (CurrentManifest).
		next.decoded, next.decodeErr = trust.DecodeManifestUnverified(d.Body)
		if next.decodeErr != nil {
			next.decodeErr = fmt.Errorf("manifest v%d: %w", d.Version, next.decodeErr)
		} else {
			next.policies, _ = next.decoded.PolicySet()
		}
	}
	return next, nil
}

// CurrentManifest returns app's current manifest as the service serves it,
// decoded once in its document cache (stale by at most RefreshInterval):
// for a monitor in the same process. An app without one gives an error
// matching store.ErrNotFound.
func (s *Server) CurrentManifest(ctx context.Context, app string) (*trust.Manifest, error) {
	snap, err := s.docs.get(ctx, app)
	if err != nil {
		return nil, err
	}
	if snap.missing || snap.manifest == nil {
		return nil, fmt.Errorf("app %q has no manifest: %w", app, store.ErrNotFound)
	}
	return snap.decoded, snap.decodeErr
}

func (c *docCache) root(ctx context.Context, app string, version int64) (*doc, error) {
	key := app + "/" + strconv.FormatInt(version, 10)
	if v, ok := c.roots.Load(key); ok {
		return v.(*doc), nil
	}
	d, err := c.st.Root(ctx, app, version)
	if err != nil {
		return nil, err
	}
	x := newDoc(d)
	if c.nroots.Load() < maxCachedRoots {
		if _, loaded := c.roots.LoadOrStore(key, x); !loaded {
			c.nroots.Add(1)
		}
	}
	return x, nil
}

// Cache-Control of the public documents. They are signed, so shared caches
// may keep them; a root version never changes.
const (
	cacheLatest    = "public, max-age=60, stale-if-error=86400"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// serveDoc writes d with conditional GET and gzip negotiation. It does
// no per-request work beyond reading two request headers: the header
// values are built with the document and assigned as they are (their
// keys are already in canonical form).
func serveDoc(w http.ResponseWriter, r *http.Request, d *doc, immutable bool) {
	h := w.Header()
	h["Cache-Control"] = hLatest
	if immutable {
		h["Cache-Control"] = hImmutable
	}
	if _, ok := h["Vary"]; !ok { // the log proof varies with Pinset-Log-Size
		h["Vary"] = hVary
	}
	// net/http stores request header keys in canonical form, so the map
	// is read directly; every line of a repeated header counts.
	useGz := d.gz != nil && acceptsGzip(r.Header["Accept-Encoding"])
	body, tag, length := d.body, d.hETag, d.hLen
	if useGz {
		body, tag, length = d.gz, d.hETagGz, d.hLenGz
	}
	h["Etag"] = tag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatch(inm, d) {
		// RFC 9110 15.4.5: ETag, Cache-Control and Vary, no content
		// headers (which net/http would otherwise have to strip).
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = hJSON
	h["X-Content-Type-Options"] = hNosniff
	if d.hModified != nil {
		h["Last-Modified"] = d.hModified
	}
	if useGz {
		h["Content-Encoding"] = hGzip
	}
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch implements If-None-Match's weak comparison against either
// representation of d. It reads the comma-separated lists in place,
// without allocating.
func etagMatch(lines []string, d *doc) bool {
	for _, line := range lines {
		for rest := line; ; {
			t, more, found := strings.Cut(rest, ",")
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == d.etag || t == d.etagGz {
				return true
			}
			if !found {
				break
			}
			rest = more
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding allows gzip: a gzip coding
// whose q is not 0 (the first gzip entry decides).
func acceptsGzip(lines []string) bool {
	for _, line := range lines {
		for rest := line; ; {
			part, more, found := strings.Cut(rest, ",")
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				params = strings.ReplaceAll(params, " ", "")
				if q, ok := strings.CutPrefix(params, "q="); ok {
					if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
						return false
					}
				}
				return true
			}
			if !found {
				break
			}
			rest = more
		}
	}
	return false
}

func (s *Server) handleRootLatest(w http.ResponseWriter, r *http.Request) {
	if _, d, ok := s.latestDoc(w, r, "root", func(a *appDocs) *doc { return a.root }); ok {
		serveDoc(w, r, d, false)
	}
}

func (s *Server) handleRootVersion(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	v, num, ok := docVersion(r.PathValue("file"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such root: want /v1/apps/{app}/roots/{N}.json")
		return
	}
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return
	}
	d, err := s.docs.root(r.Context(), app, v)
	if s.readFailed(w, r, err, "app "+app+" has no root version "+num) {
		return
	}
	serveDoc(w, r, d, true)
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	app, d, ok := s.latestDoc(w, r, "manifest", func(a *appDocs) *doc { return a.manifest })
	if !ok {
		return
	}
	s.setManifestProof(w, r, app, d)
	serveDoc(w, r, d, false)
	s.recordFetch(r, app)
}

// latestDoc finds the latest document of the request's app that pick
// takes from its snapshot, or answers 404 when the app has none (what
// names the document) and the other refusals of appSnapshot.
func (s *Server) latestDoc(w http.ResponseWriter, r *http.Request, what string, pick func(*appDocs) *doc) (string, *doc, bool) {
	app := r.PathValue("app")
	snap, ok := s.appSnapshot(w, r, app)
	if !ok {
		return app, nil, false
	}
	d := pick(snap)
	if d == nil {
		writeError(w, http.StatusNotFound, "not_found", "app "+app+" has no "+what)
		return app, nil, false
	}
	return app, d, true
}

func (s *Server) appSnapshot(w http.ResponseWriter, r *http.Request, app string) (*appDocs, bool) {
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return nil, false
	}
	snap, err := s.docs.get(r.Context(), app)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	if snap.missing {
		writeError(w, http.StatusNotFound, "not_found", "no such app: "+app)
		return nil, false
	}
	return snap, true
}

// validApp is trust.ValidAppID, the one app-id check.
func validApp(s string) bool { return trust.ValidAppID(s) }
