package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"pinset.dev/pinset/tlog"
)

// Store is the small key-value store the client keeps its last verified
// documents in. A mobile app implements it over its secure storage (the
// Android Keystore-backed preferences, the iOS keychain); [DirStore] keeps
// them in files.
//
// Load returns an error wrapping [fs.ErrNotExist] when the key has never been
// saved. Save must replace the value atomically: after a crash a Load returns
// either the previous value or the new one, never a mixture. The client keeps
// its state under one key (and the telemetry install id, which nothing else
// depends on, under another), so a Store never has to make two keys agree.
//
// Nothing in a Store is trusted: the client re-verifies what it loads against
// the bundled root, so a Store needs integrity only against accidents, not
// against attackers.
type Store interface {
	Load(key string) ([]byte, error)
	Save(key string, value []byte) error
}

// cacheKey is the one key the client stores its state under.
const cacheKey = "pinset-state.json"

// maxCacheBytes caps what the client reads back from a Store.
const maxCacheBytes = 8 << 20

// ErrCacheTooLarge: a stored value is over the cache's cap. A Store may
// return the first bytes of such a value along with this error; the client
// then salvages the verified documents from them (the ETag, which may have
// bloated the file, is written last and dropped).
var ErrCacheTooLarge = errors.New("cache larger than its cap")

// DirStore is a [Store] over a directory: each key is a file written
// atomically (a temporary file in the same directory, fsync, rename over the
// old file, fsync of the directory). Files are written mode 0600 and the
// directory is created 0700 when missing. One process at a time should
// write a directory: a Save removes temporary files that a killed writer
// left behind.
//
// It is the one file writer that does not go through internal/atomicfile,
// for reasons of the SDK: atomicfile's process-wide Interrupt belongs to
// the CLI, not to an app; the temporary names here carry the key, so a
// Save can clean up after a killed writer of that key; a failed directory
// sync is returned, not ignored; and a test stops a process between the
// fsync and the rename (atomicfile's TestOneAtomicWriter allows this file
// by name).
type DirStore struct {
	Dir string

	mu sync.Mutex
	// beforeRename, when set, runs between the fsync of the temporary file
	// and the rename; tests use it to crash a process mid-write.
	beforeRename func(tmp string)
}

// NewDirStore returns a DirStore over dir.
func NewDirStore(dir string) *DirStore { return &DirStore{Dir: dir} }

func (s *DirStore) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || key == "." || key == ".." || strings.HasPrefix(key, ".tmp-") {
		return "", fmt.Errorf("cache key %q is not a plain file name", key)
	}
	return filepath.Join(s.Dir, key), nil
}

// Load reads the file for key, up to 8 MiB. A larger file yields its first
// 8 MiB and an error wrapping [ErrCacheTooLarge].
func (s *DirStore) Load(key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCacheBytes {
		return b[:maxCacheBytes], fmt.Errorf("%s: %w of %d bytes", p, ErrCacheTooLarge, maxCacheBytes)
	}
	return b, nil
}

// Save writes value under key atomically: a crash at any point leaves either
// the old file or the new one in place.
func (s *DirStore) Save(key string, value []byte) (err error) {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	// Temporary files left by a process killed mid-write are never
	// renamed into place; remove them. (One process writes a cache
	// directory at a time.)
	if old, _ := filepath.Glob(filepath.Join(s.Dir, ".tmp-"+key+"-*")); len(old) > 0 {
		for _, o := range old {
			os.Remove(o)
		}
	}
	f, err := os.CreateTemp(s.Dir, ".tmp-"+key+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(value); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if s.beforeRename != nil {
		s.beforeRename(tmp)
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(s.Dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// MemStore is an in-memory [Store], for tests and for programs that do not
// want a cache between runs.
type MemStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Load returns the value saved under key.
func (s *MemStore) Load(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return append([]byte(nil), v...), nil
}

// Save stores a copy of value under key.
func (s *MemStore) Save(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// cached is what the client stores: the roots it walked past the bundled
// one and the last manifest it accepted (empty when the bundled manifest is
// in force), exactly as signed, how many of the roots preceded that
// manifest, and the ETag the service gave it (checked by checkETag before
// it is written and again on load). Everything is verified again on load by
// replaying it on top of the bundled state. The ETag is the last field, so
// a file bloated by one can be salvaged from its first bytes.
type cached struct {
	Format        string   `json:"format"` // cacheFormat
	Roots         []string `json:"roots"`  // base64 of each envelope, oldest first
	Manifest      string   `json:"manifest"`
	ManifestAfter int      `json:"manifest_after"`
	Refreshed     string   `json:"refreshed,omitempty"` // last successful refresh, RFC 3339
	// The transparency log, when the root names one: the proof the
	// manifest was accepted with and the newest checkpoint held (base64).
	LogProof      string `json:"log_proof,omitempty"`
	LogCheckpoint string `json:"log_checkpoint,omitempty"`
	ETag          string `json:"etag"`
}

const cacheFormat = "pinset-client-cache-v1"

// cacheContents is a decoded cache: its documents, not yet verified.
type cacheContents struct {
	roots        [][]byte
	manifest     []byte
	after        int
	etag         string
	refreshed    time.Time // zero when absent or unreadable (badRefreshed)
	badRefreshed bool
	// logProof and logCheckpoint: nil when absent (verified by the caller).
	logProof, logCheckpoint []byte
}

func encodeCache(roots [][]byte, manifest []byte, after int, etag string, refreshed time.Time, logProof, logCheckpoint []byte) ([]byte, error) {
	c := cached{Format: cacheFormat, Manifest: base64.StdEncoding.EncodeToString(manifest), ManifestAfter: after, ETag: etag, Roots: []string{},
		LogProof: base64.StdEncoding.EncodeToString(logProof), LogCheckpoint: base64.StdEncoding.EncodeToString(logCheckpoint)}
	if !refreshed.IsZero() {
		c.Refreshed = refreshed.UTC().Format(time.RFC3339Nano)
	}
	for _, r := range roots {
		c.Roots = append(c.Roots, base64.StdEncoding.EncodeToString(r))
	}
	return json.Marshal(c)
}

// decodeCache parses the cache file strictly. It checks the shape only; the
// documents inside are verified by the caller.
func decodeCache(b []byte) (cacheContents, error) {
	var c cached
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return cacheContents{}, fmt.Errorf("cache is not valid JSON (truncated or corrupt): %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cacheContents{}, errors.New("cache has trailing data")
	}
	return c.contents(true)
}

// contents checks the shape of c and decodes its documents. Without
// haveAfter (a salvaged cache that lost manifest_after) the manifest is
// kept only when there are no roots to place it among.
func (c *cached) contents(haveAfter bool) (cacheContents, error) {
	if c.Format != cacheFormat {
		return cacheContents{}, fmt.Errorf("cache format %q is not %q", c.Format, cacheFormat)
	}
	if len(c.Roots) > maxCachedRoots {
		return cacheContents{}, fmt.Errorf("cache holds %d roots, more than the limit of %d", len(c.Roots), maxCachedRoots)
	}
	if c.ManifestAfter < 0 || c.ManifestAfter > len(c.Roots) {
		return cacheContents{}, fmt.Errorf("cache is inconsistent: manifest_after %d with %d roots", c.ManifestAfter, len(c.Roots))
	}
	out := cacheContents{after: c.ManifestAfter, etag: c.ETag}
	if c.Refreshed != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Refreshed)
		if err != nil {
			out.badRefreshed = true
		} else {
			out.refreshed = t
		}
	}
	for i, r := range c.Roots {
		rb, err := base64.StdEncoding.DecodeString(r)
		if err != nil || len(rb) == 0 {
			return cacheContents{}, fmt.Errorf("cache root #%d is not valid base64", i+1)
		}
		out.roots = append(out.roots, rb)
	}
	if c.Manifest != "" && (haveAfter || len(c.Roots) == 0) {
		m, err := base64.StdEncoding.DecodeString(c.Manifest)
		if err != nil {
			return cacheContents{}, errors.New("cache manifest is not valid base64")
		}
		out.manifest = m
	}
	for _, f := range []struct {
		name, v string
		max     int
		dst     *[]byte
	}{{"log_proof", c.LogProof, tlog.MaxBundleSize, &out.logProof}, {"log_checkpoint", c.LogCheckpoint, tlog.MaxCheckpointSize, &out.logCheckpoint}} {
		if f.v == "" {
			continue
		}
		b, err := base64.StdEncoding.Strict().DecodeString(f.v)
		if err != nil || len(b) > f.max {
			return cacheContents{}, fmt.Errorf("cache %s is not valid base64 of at most %d bytes", f.name, f.max)
		}
		*f.dst = b
	}
	return out, nil
}

// salvageCache reads what it can of a cache that failed strict decoding
// or is over its cap: the members up to the first one that does not
// decode, in any order, ignoring unknown ones, and never the ETag (the
// member that bloats a file). Its documents are verified by the caller
// like any others, so leniency here cannot add trust; it only avoids
// dropping documents that still verify.
func salvageCache(b []byte) (cacheContents, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return cacheContents{}, errors.New("cache is not a JSON object")
	}
	var c cached
	members := map[string]any{"format": &c.Format, "roots": &c.Roots, "manifest": &c.Manifest,
		"manifest_after": &c.ManifestAfter, "refreshed": &c.Refreshed, "log_proof": &c.LogProof,
		"log_checkpoint": &c.LogCheckpoint}
	haveFormat, haveAfter := false, false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := t.(string)
		if key == "etag" {
			break
		}
		dst, known := members[key]
		if !known {
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			// A member cut short: what came before is all there is.
			switch key {
			case "roots":
				c.Roots = nil
			case "manifest":
				c.Manifest = ""
			}
			break
		}
		switch key {
		case "format":
			haveFormat = true
		case "manifest_after":
			haveAfter = true
		}
	}
	if !haveFormat {
		return cacheContents{}, errors.New("cache has no readable format member")
	}
	out, err := c.contents(haveAfter)
	if err != nil {
		return cacheContents{}, err
	}
	out.etag = ""
	if len(out.roots) == 0 && len(out.manifest) == 0 {
		return cacheContents{}, errors.New("no document could be read from the cache")
	}
	return out, nil
}

// maxCachedRoots bounds the root chain kept in the cache.
const maxCachedRoots = 1024
