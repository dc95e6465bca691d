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

// DirStore is a [Store] over a directory: each key is a file written
// atomically (a temporary file in the same directory, fsync, rename over the
// old file, fsync of the directory). Files are written mode 0600 and the
// directory is created 0700 when missing. One process at a time should
// write a directory: a Save removes temporary files that a killed writer
// left behind.
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

// Load reads the file for key, up to 8 MiB.
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
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxCacheBytes)
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
// manifest, and the ETag the service gave it. Everything is verified again
// on load by replaying it on top of the bundled state.
type cached struct {
	Format        string   `json:"format"` // cacheFormat
	Roots         []string `json:"roots"`  // base64 of each envelope, oldest first
	Manifest      string   `json:"manifest"`
	ManifestAfter int      `json:"manifest_after"`
	ETag          string   `json:"etag"`
}

const cacheFormat = "pinset-client-cache-v1"

func encodeCache(roots [][]byte, manifest []byte, after int, etag string) ([]byte, error) {
	c := cached{Format: cacheFormat, Manifest: base64.StdEncoding.EncodeToString(manifest), ManifestAfter: after, ETag: etag, Roots: []string{}}
	for _, r := range roots {
		c.Roots = append(c.Roots, base64.StdEncoding.EncodeToString(r))
	}
	return json.Marshal(c)
}

// decodeCache parses the cache file strictly. It checks the shape only; the
// documents inside are verified by the caller.
func decodeCache(b []byte) (roots [][]byte, manifest []byte, after int, etag string, err error) {
	var c cached
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, nil, 0, "", fmt.Errorf("cache is not valid JSON (truncated or corrupt): %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, 0, "", errors.New("cache has trailing data")
	}
	if c.Format != cacheFormat {
		return nil, nil, 0, "", fmt.Errorf("cache format %q is not %q", c.Format, cacheFormat)
	}
	if len(c.Roots) > maxCachedRoots {
		return nil, nil, 0, "", fmt.Errorf("cache holds %d roots, more than the limit of %d", len(c.Roots), maxCachedRoots)
	}
	if c.ManifestAfter < 0 || c.ManifestAfter > len(c.Roots) {
		return nil, nil, 0, "", fmt.Errorf("cache is inconsistent: manifest_after %d with %d roots", c.ManifestAfter, len(c.Roots))
	}
	for i, r := range c.Roots {
		rb, err := base64.StdEncoding.DecodeString(r)
		if err != nil || len(rb) == 0 {
			return nil, nil, 0, "", fmt.Errorf("cache root #%d is not valid base64", i+1)
		}
		roots = append(roots, rb)
	}
	if c.Manifest != "" {
		manifest, err = base64.StdEncoding.DecodeString(c.Manifest)
		if err != nil {
			return nil, nil, 0, "", errors.New("cache manifest is not valid base64")
		}
	}
	return roots, manifest, c.ManifestAfter, c.ETag, nil
}

// maxCachedRoots bounds the root chain kept in the cache.
const maxCachedRoots = 1024
