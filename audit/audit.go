// Package audit checks an app's transparency log from the outside, as
// `pinset audit` does from cron, CI or the service's monitor: it fetches
// the log's checkpoint and entries (C2SP tlog-tiles paths under
// /v1/apps/{app}/log/), verifies the checkpoint under the log key the
// app's root names, rebuilds the tree from the entries, checks that it is
// consistent with the checkpoint of the last run (kept in a state
// directory), fetches every logged root and manifest, and lists them with
// the keys that signed them.
//
// A Report's Problems are what must alarm someone: a fork (the log showed
// another history than last time), a rollback (a smaller tree), entries
// that do not give the signed root hash, documents that do not match
// their records, versions going backwards, and signatures or root keys by
// keys outside the expected list. An error from Run means the audit could
// not be done (network, a service that is down); it says nothing about the
// log.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

// Config is one audit.
type Config struct {
	// Server is the pin service's base URL (or a static mirror of it).
	Server *url.URL
	App    string
	// HTTP fetches; nil: a client with a 30 s timeout.
	HTTP *http.Client
	// ExpectKeys, when not nil, are the key ids (hex SHA-256 of the SPKI)
	// that may sign roots and manifests and that roots may name; any
	// other is a problem.
	ExpectKeys []string
	// StateDir keeps the last verified checkpoint between runs ("": none,
	// every run is a first run).
	StateDir string
	// MaxEntries bounds the log read (default 1<<20).
	MaxEntries int64
}

// Problem kinds.
const (
	ProblemFork          = "fork"
	ProblemRollback      = "rollback"
	ProblemCheckpoint    = "checkpoint"
	ProblemMismatch      = "mismatch"
	ProblemVersion       = "version"
	ProblemSignature     = "signature"
	ProblemUnexpectedKey = "unexpected-key"
	ProblemRootChain     = "root-chain"
)

// Problem is one finding that should alarm someone.
type Problem struct {
	Kind    string `json:"kind"`
	Index   int64  `json:"index"` // log entry, -1 for the log as a whole
	Message string `json:"message"`
}

// Entry is one logged document.
type Entry struct {
	Index       int64     `json:"index"`
	Kind        string    `json:"kind"`
	Version     uint64    `json:"version"`
	RootVersion uint64    `json:"root_version,omitempty"`
	SHA256      string    `json:"sha256"`
	Logged      time.Time `json:"logged"`
	IssuedAt    time.Time `json:"issued_at,omitzero"`
	SignedBy    []string  `json:"signed_by"`
	// OtherSignatures are key ids whose signature does not verify or that
	// the governing root does not list.
	OtherSignatures []string `json:"other_signatures,omitempty"`
}

// Report is what an audit found.
type Report struct {
	App        string          `json:"app"`
	Origin     string          `json:"origin"`
	Checkpoint tlog.Checkpoint `json:"-"`
	Size       int64           `json:"size"`
	RootHash   string          `json:"root_hash"`
	// PreviousSize is the tree size of the last run's checkpoint (0: first
	// run, trusted on first use).
	PreviousSize int64     `json:"previous_size"`
	Entries      []Entry   `json:"entries"`
	Problems     []Problem `json:"problems"`
	// Notes say what was not checked and why (never silent).
	Notes []string `json:"notes,omitempty"`
}

func (r *Report) problem(kind string, index int64, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Index: index, Message: fmt.Sprintf(format, args...)})
}

// Caps of fetched bodies.
const (
	maxDoc        = trust.MaxEnvelopeSize
	maxCheckpoint = tlog.MaxCheckpointSize
	maxBundle     = (1 << tlog.TileHeight) * (tlog.MaxRecordSize + 2)
	maxRoots      = 1024
)

// ErrNoLog: the app's root names no transparency log.
var ErrNoLog = errors.New("the app's latest root names no transparency log")

type auditor struct {
	cfg  Config
	hc   *http.Client
	base *url.URL
}

func (a *auditor) get(ctx context.Context, max int64, path ...string) ([]byte, bool, error) {
	u := a.base.JoinPath(append([]string{"v1", "apps", a.cfg.App}, path...)...)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET %s: HTTP status %d", u.Path, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", u.Path, err)
	}
	if int64(len(b)) > max {
		return nil, false, fmt.Errorf("GET %s: more than %d bytes", u.Path, max)
	}
	return b, true, nil
}

// Run audits the app's log. Problems are in the report; an error means
// the audit could not be completed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if !validApp(cfg.App) {
		return nil, fmt.Errorf("app id %q: use 1 to 128 characters of A-Z a-z 0-9 . _ -", cfg.App)
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1 << 20
	}
	a := &auditor{cfg: cfg, hc: cfg.HTTP, base: cfg.Server}
	if a.hc == nil {
		a.hc = &http.Client{Timeout: 30 * time.Second}
	}
	rep := &Report{App: cfg.App, Problems: []Problem{}}

	// The root chain, from v1, as a client walks it.
	var roots [][]byte
	for v := 1; ; v++ {
		if v > maxRoots {
			return nil, fmt.Errorf("more than %d roots", maxRoots)
		}
		b, ok, err := a.get(ctx, maxDoc, "roots", strconv.Itoa(v)+".json")
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		roots = append(roots, b)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("app %s has no root", cfg.App)
	}
	st, err := loadState(cfg.StateDir, cfg.App)
	if err != nil {
		return nil, err
	}
	root1 := digest(roots[0])
	if st != nil && st.Root1 != root1 {
		rep.problem(ProblemRootChain, -1, "root v1 is now %s; the last run saw %s", root1, st.Root1)
	}
	parsed := make([]*trust.Root, len(roots))
	ts, err := trust.NewState(roots[0], nil)
	for i := 0; err == nil && i < len(roots); i++ {
		if i > 0 {
			ts, err = ts.Restore([][]byte{roots[i]}, nil)
		}
		if err == nil {
			parsed[i] = ts.Root()
		}
	}
	if err != nil {
		rep.problem(ProblemRootChain, -1, "the served root chain does not verify: %v", err)
		return rep, nil
	}
	if st == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("first run: root v1 (%s) and the log's current state are trusted on first use", root1[:16]))
	}
	latest := parsed[len(parsed)-1]
	if latest.Log == nil {
		return nil, ErrNoLog
	}
	v, err := tlog.NewVerifiers(latest.Log.Key, latest.Log.Witnesses, latest.Log.WitnessThreshold)
	if err != nil {
		return nil, err
	}
	rep.Origin = v.Origin()

	note, ok, err := a.get(ctx, maxCheckpoint, "log", "checkpoint")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("app %s: the service serves no log checkpoint", cfg.App)
	}
	cp, err := v.Open(note)
	if err != nil {
		rep.problem(ProblemCheckpoint, -1, "checkpoint: %v", err)
		return rep, nil
	}
	rep.Checkpoint, rep.Size, rep.RootHash = cp, cp.Size, cp.Hash.String()
	var prev tlog.Checkpoint
	if st != nil && st.Origin == cp.Origin {
		prev = tlog.Checkpoint{Origin: st.Origin, Size: st.Size, Hash: st.hash}
		rep.PreviousSize = prev.Size
	} else if st != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the root now names the log %s (last run: %s): its state starts afresh", cp.Origin, st.Origin))
	}
	switch {
	case prev.Size > cp.Size:
		rep.problem(ProblemRollback, -1, "the log shrank: size %d, the last run saw %d", cp.Size, prev.Size)
		return rep, nil
	case prev.Size == cp.Size && prev.Size > 0 && prev.Hash != cp.Hash:
		rep.problem(ProblemFork, -1, "ALARM: two checkpoints of size %d with different root hashes: %s (last run) and %s (now); keep both notes as evidence:\n%s", cp.Size, prev.Hash, cp.Hash, note)
		return rep, nil
	}
	if cp.Size > cfg.MaxEntries {
		return nil, fmt.Errorf("log of %d entries, over the audit's cap of %d", cp.Size, cfg.MaxEntries)
	}

	// Every entry, rebuilt into the tree.
	mem := &tlog.Memory{}
	for start := int64(0); start < cp.Size; start += 1 << tlog.TileHeight {
		n := min(cp.Size-start, 1<<tlog.TileHeight)
		t := tlog.Tile{H: tlog.TileHeight, L: -1, N: start >> tlog.TileHeight, W: int(n)}
		b, ok, err := a.get(ctx, maxBundle, "log", tlog.TilePath(t))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("entry bundle %s is missing", tlog.TilePath(t))
		}
		recs, err := tlog.ParseEntryBundle(b, int(n))
		if err != nil {
			rep.problem(ProblemMismatch, start, "%s: %v", tlog.TilePath(t), err)
			return rep, nil
		}
		for _, r := range recs {
			mem.Append(r)
		}
	}
	if h, _ := mem.TreeHash(cp.Size); h != cp.Hash {
		rep.problem(ProblemMismatch, -1, "the entries give root hash %s, the signed checkpoint says %s", h, cp.Hash)
		return rep, nil
	}
	if prev.Size > 0 {
		if h, _ := mem.TreeHash(prev.Size); h != prev.Hash {
			rep.problem(ProblemFork, -1, "ALARM: the log's first %d entries now give root hash %s; the last run's checkpoint of that size says %s: the history was rewritten", prev.Size, h, prev.Hash)
			return rep, nil
		}
	}

	a.entries(ctx, rep, mem, roots, parsed)

	// Keep the checkpoint for the next run unless the log itself is in
	// doubt (a rollback or a fork returns above).
	if cfg.StateDir != "" {
		if err := saveState(cfg.StateDir, cfg.App, &state{Root1: root1, Origin: cp.Origin, Size: cp.Size, hash: cp.Hash, Note: string(note)}); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// entries fetches and checks every logged document.
func (a *auditor) entries(ctx context.Context, rep *Report, mem *tlog.Memory, roots [][]byte, parsed []*trust.Root) {
	var lastRoot, lastManifest uint64
	seen := map[uint64]string{}
	for i, rb := range mem.Records {
		idx := int64(i)
		r, _ := tlog.ParseRecord(rb) // ParseEntryBundle parsed it
		e := Entry{Index: idx, Kind: r.Kind, Version: r.Version, SHA256: hex.EncodeToString(r.SHA256[:]), Logged: r.Time}
		if r.App != a.cfg.App {
			rep.problem(ProblemMismatch, idx, "entry for app %q in the log of %q", r.App, a.cfg.App)
		}
		var env []byte
		switch r.Kind {
		case tlog.KindRoot:
			if r.Version < 1 || r.Version > uint64(len(roots)) {
				rep.problem(ProblemMismatch, idx, "root v%d is logged but not served", r.Version)
				break
			}
			env = roots[r.Version-1]
			if lastRoot != 0 && r.Version != lastRoot+1 {
				rep.problem(ProblemVersion, idx, "root v%d logged after root v%d", r.Version, lastRoot)
			}
			lastRoot = r.Version
		case tlog.KindManifest:
			b, ok, err := a.get(ctx, maxDoc, "log", "manifests", strconv.FormatUint(r.Version, 10)+".json")
			if err != nil || !ok {
				rep.problem(ProblemMismatch, idx, "manifest v%d is logged but cannot be fetched (%v)", r.Version, err)
				break
			}
			env = b
			if lastManifest != 0 && r.Version <= lastManifest {
				kind := "rollback"
				if r.Version == lastManifest || seen[r.Version] != "" {
					kind = "a second manifest with one version (equivocation)"
				}
				rep.problem(ProblemVersion, idx, "manifest v%d logged after v%d: %s", r.Version, lastManifest, kind)
			}
			lastManifest = max(lastManifest, r.Version)
		}
		if env != nil {
			if digest(env) != e.SHA256 {
				rep.problem(ProblemMismatch, idx, "%s v%d served with SHA-256 %s, logged as %s", r.Kind, r.Version, digest(env), e.SHA256)
			} else {
				a.signers(rep, &e, env, parsed)
			}
		}
		seen[r.Version] = e.SHA256
		rep.Entries = append(rep.Entries, e)
	}
}

// signers lists who signed env and checks them against the expected keys.
func (a *auditor) signers(rep *Report, e *Entry, b []byte, parsed []*trust.Root) {
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		rep.problem(ProblemSignature, e.Index, "%s v%d: %v", e.Kind, e.Version, err)
		return
	}
	var governing []*trust.Root
	switch e.Kind {
	case tlog.KindRoot:
		r := parsed[e.Version-1]
		governing = append(governing, r)
		if e.Version > 1 {
			governing = append(governing, parsed[e.Version-2])
		}
		if a.cfg.ExpectKeys != nil {
			for _, k := range r.Keys {
				if !slices.Contains(a.cfg.ExpectKeys, k.ID) {
					rep.problem(ProblemUnexpectedKey, e.Index, "root v%d names key %s, not in the expected keys", e.Version, k.ID)
				}
			}
		}
	case tlog.KindManifest:
		m, err := trust.DecodeManifestUnverified(b)
		if err != nil {
			rep.problem(ProblemSignature, e.Index, "manifest v%d: %v", e.Version, err)
			return
		}
		e.RootVersion, e.IssuedAt = m.RootVersion, m.IssuedAt
		if m.RootVersion < 1 || m.RootVersion > uint64(len(parsed)) {
			rep.problem(ProblemSignature, e.Index, "manifest v%d is bound to root v%d, which is not served", e.Version, m.RootVersion)
			return
		}
		r := parsed[m.RootVersion-1]
		governing = append(governing, r)
		if _, err := r.VerifyRole(trust.RolePins, env); err != nil {
			rep.problem(ProblemSignature, e.Index, "manifest v%d does not verify under root v%d: %v", e.Version, r.Version, err)
		}
	}
	e.SignedBy = []string{}
	for _, r := range governing {
		valid, other := r.Signers(env)
		for _, k := range valid {
			if !slices.Contains(e.SignedBy, k) {
				e.SignedBy = append(e.SignedBy, k)
			}
		}
		for _, k := range other {
			if !slices.Contains(e.OtherSignatures, k) {
				e.OtherSignatures = append(e.OtherSignatures, k)
			}
		}
	}
	e.OtherSignatures = slices.DeleteFunc(e.OtherSignatures, func(k string) bool { return slices.Contains(e.SignedBy, k) })
	if a.cfg.ExpectKeys != nil {
		for _, k := range e.SignedBy {
			if !slices.Contains(a.cfg.ExpectKeys, k) {
				rep.problem(ProblemUnexpectedKey, e.Index, "%s v%d is signed by key %s, not in the expected keys", e.Kind, e.Version, k)
			}
		}
	}
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func validApp(s string) bool {
	if len(s) == 0 || len(s) > trust.MaxAppIDLen || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
