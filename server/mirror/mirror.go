// Package mirror writes the pin service's public documents into a
// directory under the API's paths, so that nginx, a CDN origin or object
// storage can serve them as a static origin:
//
//	DIR/v1/apps/{app}/roots/{N}.json   every root version
//	DIR/v1/apps/{app}/root.json        the latest root
//	DIR/v1/apps/{app}/pins.json        the current manifest
//
// The documents are signed, so the origin needs no trust: a client checks
// them exactly as it checks the service's answers. What the origin must get
// right is order: a client that fetches a manifest bound to root N must
// find root N. [Dir.Write] writes the roots first, the manifest last, each
// whole by rename ([atomicfile]), so that no reader ever sees a manifest
// before the root it needs, nor part of a file.
//
// `pinset serve --mirror DIR` writes the mirror after every publication;
// `pinset publish --mirror DIR` writes it without a service, after
// [Dir.Publish] verified the documents as the service would.
package mirror

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/trust"
)

// Dir is a mirror directory.
type Dir struct {
	Root string
	// Now is the clock (nil: time.Now); see writeIfChanged.
	Now func() time.Time
}

// Root is one root version to write.
type Root struct {
	Version uint64
	Body    []byte
}

// appDir is where an app's documents go; app ids are checked by the
// caller (the service and trust accept only safe ids), and once more here.
func (d Dir) appDir(app string) (string, error) {
	if app == "" || app == "." || app == ".." || filepath.Base(app) != app {
		return "", fmt.Errorf("mirror: app id %q cannot be a directory name", app)
	}
	return filepath.Join(d.Root, "v1", "apps", app), nil
}

// Write writes an app's documents in the order clients need them: every
// root of roots (in the order given, which must be by version) that the
// mirror does not hold with the same bytes, then root.json (the last of
// roots), then the manifest (nil: none). Each file is written whole and
// renamed into place, so a reader sees the old file or the new one.
func (d Dir) Write(app string, roots []Root, manifest []byte) error {
	dir, err := d.appDir(app)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "roots"), 0o755); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	for i, r := range roots {
		if i > 0 && r.Version <= roots[i-1].Version {
			return fmt.Errorf("mirror: roots out of order (v%d after v%d)", r.Version, roots[i-1].Version)
		}
		if err := d.writeIfChanged(filepath.Join(dir, "roots", strconv.FormatUint(r.Version, 10)+".json"), r.Body); err != nil {
			return err
		}
	}
	if len(roots) > 0 {
		if err := d.writeIfChanged(filepath.Join(dir, "root.json"), roots[len(roots)-1].Body); err != nil {
			return err
		}
	}
	if manifest != nil {
		return d.writeIfChanged(filepath.Join(dir, "pins.json"), manifest)
	}
	return nil
}

// writeIfChanged replaces name with b unless it holds b already. A
// replaced file's modification time moves at least a second past the old
// one's: static servers derive ETags from the time in seconds and the size
// (nginx: "%x-%x"), and a new manifest of the same size written within the
// same second would otherwise keep the old ETag, so that clients asking
// If-None-Match would be told 304 and keep the old manifest.
func (d Dir) writeIfChanged(name string, b []byte) error {
	if cur, err := readCapped(name); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	var mtime time.Time
	if fi, err := os.Stat(name); err == nil {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		mtime = fi.ModTime().Truncate(time.Second).Add(time.Second)
		if t := now(); t.After(mtime) {
			mtime = t
		}
	}
	if err := atomicfile.WriteFile(name, b, atomicfile.Options{Perm: 0o644, ModTime: mtime}); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	return nil
}

// readCapped reads a mirror file of at most trust.MaxEnvelopeSize bytes.
func readCapped(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, trust.MaxEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > trust.MaxEnvelopeSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, trust.MaxEnvelopeSize)
	}
	return b, nil
}

// maxRoots bounds the roots Load reads.
const maxRoots = 4096

// Load reads what the mirror holds for app: its roots in version order
// (from the first it holds up to the version of root.json) and its
// manifest (nil when none). An empty mirror gives no roots.
func (d Dir) Load(app string) ([]Root, []byte, error) {
	dir, err := d.appDir(app)
	if err != nil {
		return nil, nil, err
	}
	latest, err := readCapped(filepath.Join(dir, "root.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: %w", err)
	}
	st, err := trust.NewState(latest, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: %s: %w", filepath.Join(dir, "root.json"), err)
	}
	// The first root published may be any version: walk down from the
	// latest to the first one missing.
	var roots []Root
	for v := st.Root().Version; v >= 1; v-- {
		b, err := readCapped(filepath.Join(dir, "roots", strconv.FormatUint(v, 10)+".json"))
		if errors.Is(err, os.ErrNotExist) && len(roots) > 0 {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("mirror: root v%d: %w", v, err)
		}
		if len(roots) == maxRoots {
			return nil, nil, fmt.Errorf("mirror: more than %d roots", maxRoots)
		}
		roots = append(roots, Root{Version: v, Body: b})
	}
	slices.Reverse(roots)
	m, err := readCapped(filepath.Join(dir, "pins.json"))
	if errors.Is(err, os.ErrNotExist) {
		return roots, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: %w", err)
	}
	return roots, m, nil
}

// Publish verifies new roots (in version order) and a manifest (nil: none)
// for app against what the mirror holds, as the service verifies uploads
// (trust: each root the next version signed by a threshold of the previous
// root's keys and its own, the manifest by the latest root's pins role,
// for this app, above the mirror's current version), then writes them with
// Write. A root the mirror holds already must be the same bytes.
//
// The service's publish gate does not run here: nothing probed the live
// hosts (run `pinset check` first); the caller says so. Manifests under a
// root that names a transparency log are refused (trust.ErrNotLogged):
// only the service appends to the log.
func (d Dir) Publish(app string, roots [][]byte, manifest []byte, now time.Time) (*trust.State, error) {
	have, cur, err := d.Load(app)
	if err != nil {
		return nil, err
	}
	chain := make([][]byte, 0, len(have)+len(roots))
	for _, r := range have {
		chain = append(chain, r.Body)
	}
	all := append([]Root(nil), have...)
	for _, b := range roots {
		st, err := trust.NewState(b, nil)
		if err != nil {
			return nil, err
		}
		v := st.Root().Version
		if len(have) > 0 && v <= have[len(have)-1].Version {
			i := slices.IndexFunc(have, func(r Root) bool { return r.Version == v })
			if i < 0 || !bytes.Equal(have[i].Body, b) {
				return nil, fmt.Errorf("root v%d is not the mirror's: %w", v, trust.ErrEquivocation)
			}
			continue
		}
		chain = append(chain, b)
		all = append(all, Root{Version: v, Body: b})
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("app %q has no root in the mirror: publish its root first", app)
	}
	st, err := trust.VerifyRootChain(chain, now)
	if err != nil {
		return nil, err
	}
	if st.Root().AppID != app {
		return nil, fmt.Errorf("root for app %q published to app %q: %w", st.Root().AppID, app, trust.ErrWrongApp)
	}
	m := cur
	if manifest != nil && !bytes.Equal(manifest, cur) {
		if cur != nil {
			// The mirror's manifest, verified under the root it is bound
			// to, sets the floor: no rollback, whatever root it is under.
			floor := uint64(0)
			for i := len(chain) - 1; i >= 0 && floor == 0; i-- {
				if c, err := trust.NewState(chain[i], cur); err == nil {
					floor = c.Manifest().Version + 1
				}
			}
			if floor == 0 {
				return nil, errors.New("the mirror's pins.json verifies under none of its roots: repair the mirror first")
			}
			st = st.WithFloors(trust.Floors{ManifestVersion: floor})
		}
		next, err := st.UpdateManifest(manifest, now)
		var ve *trust.VersionError
		if errors.As(err, &ve) && errors.Is(err, trust.ErrBelowFloor) {
			// The floor is the mirror's current version, not one shipped
			// with an app: say rollback against it.
			err = &trust.VersionError{Document: "manifest", Got: ve.Got, Trusted: ve.Trusted - 1, Err: trust.ErrRollback}
		}
		if err != nil {
			return nil, err
		}
		if next.Manifest().AppID != app {
			return nil, fmt.Errorf("manifest for app %q published to app %q: %w", next.Manifest().AppID, app, trust.ErrWrongApp)
		}
		st, m = next, manifest
	}
	return st, d.Write(app, all, m)
}
