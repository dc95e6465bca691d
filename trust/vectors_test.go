package trust_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// Test vectors: testdata/trust/*.txt, one case per file, in a format any
// language can read (specified in docs/trust.md):
//
//	expect: success | <error name>
//	comment: what the case shows
//	now: 2026-01-02T00:00:00Z
//
//	--- trusted-root
//	<envelope bytes>
//	--- trusted-manifest       (optional)
//	--- root                   (zero or more: the chain to walk, in order)
//	--- manifest               (optional: the update under test)
//	--- proof                  (optional, after a manifest: its log proof)
//
// A section named "NAME base64" holds its bytes in base64 on one line.
// Regenerate with: go test ./trust -run TestVectors -update

var update = flag.Bool("update", false, "rewrite testdata/trust from the generator")

const vectorDir = "../testdata/trust"

// errorNames maps the error names used in vectors to the sentinels. The
// most specific name that matches is the verdict.
var errorNames = []struct {
	name string
	err  error
}{
	{"below-floor", trust.ErrBelowFloor},
	{"rollback", trust.ErrRollback},
	{"equivocation", trust.ErrEquivocation},
	{"root-version-gap", trust.ErrRootVersionGap},
	{"root-chain-too-long", trust.ErrRootChainTooLong},
	{"root-mismatch", trust.ErrRootMismatch},
	{"expired", trust.ErrExpired},
	{"issued-in-future", trust.ErrIssuedInFuture},
	{"expires-before-issued", trust.ErrExpiresBeforeIssued},
	{"manifest-lifetime", trust.ErrManifestLifetime},
	{"wrong-app", trust.ErrWrongApp},
	{"threshold", trust.ErrThreshold},
	{"algorithm", trust.ErrAlgorithm},
	{"payload-type", trust.ErrPayloadType},
	{"too-large", trust.ErrTooLarge},
	{"malformed", trust.ErrMalformed},
	{"invalid-document", trust.ErrInvalidDocument},
	{"not-logged", trust.ErrNotLogged},
	{"log-checkpoint", trust.ErrLogCheckpoint},
	{"log-inconsistent", trust.ErrLogInconsistent},
	{"log-fork", trust.ErrLogFork},
}

func errorName(err error) string {
	if err == nil {
		return "success"
	}
	for _, e := range errorNames {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "unknown-error"
}

// vector is one test case.
type vector struct {
	name     string
	expect   string
	comment  string
	now      time.Time
	sections []section
}

type section struct {
	name string // trusted-root, trusted-manifest, root, manifest
	data []byte
}

func (v *vector) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\nnow: %s\n\n", v.expect, v.comment, v.now.UTC().Format(trust.TimeLayout))
	for _, s := range v.sections {
		if isText(s.data) {
			fmt.Fprintf(&b, "--- %s\n%s\n", s.name, bytes.TrimRight(s.data, "\n"))
		} else {
			fmt.Fprintf(&b, "--- %s base64\n%s\n", s.name, base64.StdEncoding.EncodeToString(s.data))
		}
	}
	return b.Bytes()
}

// isText reports whether data can be stored as is: printable ASCII and
// newlines, no line starting with "--- ", no trailing newline that matters.
func isText(data []byte) bool {
	if len(data) == 0 || bytes.HasSuffix(bytes.TrimRight(data, "\n"), []byte(" ")) {
		return false
	}
	for _, c := range data {
		if (c < 0x20 && c != '\n') || c > 0x7e {
			return false
		}
	}
	return !bytes.Contains(data, []byte("\n--- ")) && !bytes.HasPrefix(data, []byte("--- ")) &&
		!bytes.Contains(bytes.TrimRight(data, "\n"), []byte("\n\n"))
}

func parseVector(name string, b []byte) (*vector, error) {
	v := &vector{name: name}
	head, body, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no blank line after the header")
	}
	for _, line := range strings.Split(string(head), "\n") {
		k, val, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("header line %q", line)
		}
		switch k {
		case "expect":
			v.expect = val
		case "comment":
			v.comment = val
		case "now":
			t, err := time.Parse(trust.TimeLayout, val)
			if err != nil {
				return nil, err
			}
			v.now = t
		default:
			return nil, fmt.Errorf("unknown header %q", k)
		}
	}
	lines := strings.SplitAfter(string(body), "\n")
	var cur *section
	var b64 bool
	flush := func() error {
		if cur == nil {
			return nil
		}
		data := bytes.TrimSuffix(cur.data, []byte("\n"))
		if b64 {
			d, err := base64.StdEncoding.DecodeString(string(data))
			if err != nil {
				return err
			}
			data = d
		}
		cur.data = data
		v.sections = append(v.sections, *cur)
		return nil
	}
	for _, line := range lines {
		if h, ok := strings.CutPrefix(line, "--- "); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			h = strings.TrimSuffix(h, "\n")
			n, enc, _ := strings.Cut(h, " ")
			cur, b64 = &section{name: n}, enc == "base64"
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("data before the first section: %q", line)
		}
		cur.data = append(cur.data, line...)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return v, nil
}

// run verifies a vector the way docs/trust.md describes: start from the
// trusted root and manifest, then apply the other sections in order (a run
// of consecutive root sections is one chain walk); the verdict is the
// first error, or success.
func (v *vector) run() error {
	var root, manifest []byte
	rest := v.sections
	for len(rest) > 0 && strings.HasPrefix(rest[0].name, "trusted-") {
		switch rest[0].name {
		case "trusted-root":
			root = rest[0].data
		case "trusted-manifest":
			manifest = rest[0].data
		default:
			return fmt.Errorf("unknown section %q", rest[0].name)
		}
		rest = rest[1:]
	}
	st, err := trust.NewState(root, manifest)
	if err != nil {
		return err
	}
	for len(rest) > 0 {
		switch rest[0].name {
		case "root":
			var chain [][]byte
			for len(rest) > 0 && rest[0].name == "root" {
				chain = append(chain, rest[0].data)
				rest = rest[1:]
			}
			if st, err = st.UpdateRootChain(chain, v.now); err != nil {
				return err
			}
		case "manifest":
			m := rest[0].data
			rest = rest[1:]
			if len(rest) > 0 && rest[0].name == "proof" {
				st, err = st.UpdateManifestWithProof(m, rest[0].data, v.now)
				rest = rest[1:]
			} else {
				st, err = st.UpdateManifest(m, v.now)
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown or misplaced section %q", rest[0].name)
		}
	}
	return nil
}

func TestCase30_Vectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if err != nil || len(files) < 30 {
		t.Fatalf("expected the vectors in %s (found %d): %v", vectorDir, len(files), err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := parseVector(f, b)
			if err != nil {
				t.Fatalf("cannot parse the vector: %v", err)
			}
			err = v.run()
			if got := errorName(err); got != v.expect {
				t.Fatalf("%s\nexpected %s, got %s (%v)", v.comment, v.expect, got, err)
			}
		})
	}
}

// TestVectors regenerates testdata/trust with -update; without it, it
// checks that the files on disk are the generator's cases with the same
// verdicts (signature bytes may differ between Go versions).
func TestVectors(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 30)
	vs := generateVectors(t)
	if *update {
		old, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
		for _, f := range old {
			os.Remove(f)
		}
		if err := os.MkdirAll(vectorDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if err := os.WriteFile(filepath.Join(vectorDir, v.name+".txt"), v.encode(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.name)
		// The generated case round-trips through the file format and
		// has the verdict it claims.
		back, err := parseVector(v.name, v.encode())
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := errorName(back.run()); got != v.expect {
			t.Errorf("%s: generated with expect %s, verifies as %s", v.name, v.expect, got)
		}
		disk, err := os.ReadFile(filepath.Join(vectorDir, v.name+".txt"))
		if err != nil {
			t.Errorf("%s: missing on disk (run go test ./trust -run TestVectors -update): %v", v.name, err)
			continue
		}
		dv, err := parseVector(v.name, disk)
		if err != nil || dv.expect != v.expect || dv.comment != v.comment {
			t.Errorf("%s: stale on disk (run go test ./trust -run TestVectors -update)", v.name)
		}
	}
	files, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".txt"); !slices.Contains(names, n) {
			t.Errorf("%s: not produced by the generator", f)
		}
	}
}

// generateVectors builds every case with the repository simulator.
func generateVectors(t *testing.T) []*vector {
	var out []*vector
	n := 0
	add := func(name, expect, comment string, now time.Time, sections ...section) {
		n++
		out = append(out, &vector{name: fmt.Sprintf("%03d-%s", n, name), expect: expect, comment: comment, now: now, sections: sections})
	}
	sec := func(name string, b []byte) section { return section{name, b} }
	edit := func(b []byte, f func(*trust.Envelope)) []byte {
		env, err := trust.ParseEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		f(env)
		out, _ := env.Marshal()
		return out
	}
	payload := func(b []byte) string {
		env, _ := trust.ParseEnvelope(b)
		return string(env.Payload)
	}

	repo := trusttest.New(app, 3000)
	now := repo.Now.Add(time.Hour)
	r1, m1 := repo.Root(), repo.Manifest()
	base := []section{sec("trusted-root", r1), sec("trusted-manifest", m1)}
	with := func(extra ...section) []section { return append(append([]section(nil), base...), extra...) }

	m2 := repo.PublishManifest(nil)
	add("valid-manifest-2-of-3", "success", "a manifest signed by 2 of the 3 pins keys (ECDSA P-256) is accepted", now, with(sec("manifest", m2))...)
	add("bundle-only", "success", "the bundled root and manifest on their own verify", now, base...)
	add("same-version-same-bytes", "success", "the trusted manifest offered again is a no-op", now, with(sec("manifest", m1))...)
	add("unknown-key", "threshold", "signatures by keys that the root does not list count for nothing",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(payload(m2)), repo.NewKeys(2)...)))...)
	add("root-keys-sign-manifest", "threshold", "root-role keys are not pins-role keys",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(payload(m2)), repo.RootKeys...)))...)
	add("repeated-signature", "threshold", "one key's signature twice does not reach a threshold of 2",
		now, with(sec("manifest", edit(m2, func(e *trust.Envelope) { e.Signatures = []trust.Signature{e.Signatures[0], e.Signatures[0]} })))...)
	add("below-threshold", "threshold", "1 of 2 pins signatures",
		now, with(sec("manifest", edit(m2, func(e *trust.Envelope) { e.Signatures = e.Signatures[:1] })))...)
	add("flipped-payload-byte", "threshold", "one flipped payload bit invalidates every signature",
		now, with(sec("manifest", edit(m2, func(e *trust.Envelope) { e.Payload[40] ^= 1 })))...)
	add("payload-type-changed", "payload-type", "a manifest envelope must carry the manifest payload type",
		now, with(sec("manifest", edit(m2, func(e *trust.Envelope) { e.PayloadType = "application/json" })))...)
	add("manifest-as-root", "payload-type", "a manifest offered as a root", now, with(sec("root", m2))...)
	add("unsigned", "threshold", "an envelope without signatures",
		now, with(sec("manifest", edit(m2, func(e *trust.Envelope) { e.Signatures = nil })))...)

	// Strict decoding, on validly signed payloads.
	p := payload(m2)
	strict := []struct{ name, comment, payload string }{
		{"duplicate-key", "a key twice in one object", strings.Replace(p, `"version": 2,`, `"version": 2, "version": 3,`, 1)},
		{"duplicate-escaped-key", "a key twice, once spelled with a \\u escape", strings.Replace(p, `"version": 2,`, `"version": 2, "\u0076ersion": 3,`, 1)},
		{"case-variant-key", "a field name in another case", strings.Replace(p, `"version": 2,`, `"Version": 2,`, 1)},
		{"unknown-field", "a field the format does not define", strings.Replace(p, `"version": 2,`, `"version": 2, "enforce": false,`, 1)},
		{"float", "a version written as a float", strings.Replace(p, `"version": 2,`, `"version": 2.0,`, 1)},
		{"exponent", "a version with an exponent", strings.Replace(p, `"version": 2,`, `"version": 2e0,`, 1)},
		{"invalid-utf8", "a byte that is not UTF-8 in a string", strings.Replace(p, `"com.example.app"`, "\"com.example.app\xff\"", 1)},
		{"lone-surrogate", "an escaped lone UTF-16 surrogate", strings.Replace(p, `"com.example.app"`, `"com.example.app\udc00"`, 1)},
		{"trailing-data", "a second JSON value after the document", p + "{}"},
		{"time-offset", "a time not in UTC", strings.Replace(p, `"2026-01-01T00:00:00Z"`, `"2026-01-01T01:00:00+01:00"`, 1)},
		{"pin-prefixed", "a pin in sha256/ spelling inside a document", strings.Replace(p, "\"pins\": [\n        \"", "\"pins\": [\n        \"sha256/", 1)},
	}
	for _, c := range strict {
		exp := "malformed"
		if c.name == "pin-prefixed" {
			exp = "invalid-document"
		}
		add(c.name, exp, "strict decoding: "+c.comment,
			now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(c.payload), repo.PinsKeys[:2]...)))...)
	}
	add("envelope-unknown-field", "malformed", "strict decoding of the envelope: an alg field in a signature",
		now, with(sec("manifest", []byte(strings.Replace(string(m2), `"keyid"`, `"alg": "ed25519", "keyid"`, 1))))...)

	onePinPayload := strings.Replace(p, payload(m2)[strings.Index(p, `"hosts"`):], `"hosts": [{"pattern": "api.example.com", "pins": ["`+trusttest.Pin("only").String()+`"]}]}`, 1)
	add("enforced-one-pin", "invalid-document", "an enforced host with a single pin",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(onePinPayload), repo.PinsKeys[:2]...)))...)
	reportOnlyPayload := strings.Replace(onePinPayload, `]}]}`, `], "report_only": true}]}`, 1)
	add("report-only-one-pin", "success", "a report-only host may have a single pin",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(reportOnlyPayload), repo.PinsKeys[:2]...)))...)
	shortPin := strings.Replace(onePinPayload, `["`+trusttest.Pin("only").String()+`"]`, `["AAAA", "`+trusttest.Pin("x").String()+`"]`, 1)
	add("short-pin", "invalid-document", "a pin that is not 32 bytes",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(shortPin), repo.PinsKeys[:2]...)))...)

	// Versions and time.
	m3 := repo.PublishManifest(nil)
	add("rollback", "rollback", "v3 accepted, then v2 offered", now, with(sec("manifest", m3), sec("manifest", m2))...)
	repo.ManifestVersion = 2
	m3b := repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = m.Hosts[:1] })
	add("equivocation", "equivocation", "two different manifests signed as v3", now, with(sec("manifest", m3), sec("manifest", m3b))...)
	add("below-floor", "below-floor", "v2 when the app shipped v3", now, sec("trusted-root", r1), sec("trusted-manifest", m3), sec("manifest", m2))
	add("expired-manifest", "expired", "a manifest at its expiry instant", repo.Now.Add(repo.ManifestLifetime), with(sec("manifest", m2))...)
	future := repo.PublishManifest(func(m *trust.Manifest) { m.IssuedAt = repo.Now.Add(time.Hour); m.Expires = m.IssuedAt.Add(day) })
	add("issued-in-future", "issued-in-future", "issued an hour after now (more than the allowed clock skew)", repo.Now, with(sec("manifest", future))...)
	backwards := strings.Replace(payload(m2), `"expires": "2026-01-31T00:00:00Z"`, `"expires": "2025-12-31T00:00:00Z"`, 1)
	add("expires-before-issued", "expires-before-issued", "expiry before the issue time",
		now, with(sec("manifest", repo.Sign(trust.PayloadTypeManifest, []byte(backwards), repo.PinsKeys[:2]...)))...)
	wrongApp := repo.PublishManifest(func(m *trust.Manifest) { m.AppID = "com.example.other" })
	add("wrong-app", "wrong-app", "a manifest for another app, signed by the same keys", now, with(sec("manifest", wrongApp))...)
	mix := repo.PublishManifest(func(m *trust.Manifest) { m.RootVersion = 2 })
	add("mix-and-match", "root-mismatch", "a manifest bound to root v2 while root v1 is trusted", now, with(sec("manifest", mix))...)

	// Roots.
	rrepo := trusttest.New(app, 3001)
	rr1, rm1 := rrepo.Root(), rrepo.Manifest()
	rbase := []section{sec("trusted-root", rr1), sec("trusted-manifest", rm1)}
	rwith := func(extra ...section) []section { return append(append([]section(nil), rbase...), extra...) }
	oldKeys := rrepo.RootKeys
	rrepo.RootKeys = rrepo.NewKeys(3)
	doc2 := rrepo.RootDoc(2)
	add("root-only-new-keys", "threshold", "root v2 signed only by its own new keys",
		now, rwith(sec("root", rrepo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc2), rrepo.RootKeys[:2]...)))...)
	add("root-only-old-keys", "threshold", "root v2 signed only by root v1's keys",
		now, rwith(sec("root", rrepo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc2), oldKeys[:2]...)))...)
	rr2 := rrepo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc2), oldKeys[0], oldKeys[1], rrepo.RootKeys[0], rrepo.RootKeys[1])
	add("root-rotation", "success", "root v2 with new root keys, signed by 2 old and 2 new", now, rwith(sec("root", rr2))...)
	rrepo.Roots = append(rrepo.Roots, rr2)
	rrepo.RootLifetime = 2 * day
	rr3 := rrepo.PublishRoot() // expires early
	rrepo.RootLifetime = 365 * day
	rr4 := rrepo.PublishRoot()
	later := rrepo.Now.Add(10 * day)
	add("root-gap", "root-version-gap", "root v3 when v2 is expected", now, rwith(sec("root", rr3))...)
	add("root-chain-expired-intermediate", "success", "v2, v3 (expired), v4: only the final root must be current", later, rwith(sec("root", rr2), sec("root", rr3), sec("root", rr4))...)
	add("root-chain-expired-final", "expired", "v2, v3 where v3 has expired", later, rwith(sec("root", rr2), sec("root", rr3))...)
	rm4 := rrepo.PublishManifest(nil)
	add("manifest-after-root-chain", "success", "walk to root v4, then a manifest bound to v4", later, rwith(sec("root", rr2), sec("root", rr3), sec("root", rr4), sec("manifest", rm4))...)
	add("manifest-old-root-binding", "root-mismatch", "after walking to v4, a manifest bound to v1", later, rwith(sec("root", rr2), sec("root", rr3), sec("root", rr4), sec("manifest", rrepo.Manifests[0]))...)
	var cap []section
	crepo := trusttest.New(app, 3002)
	for range trust.MaxRootChain + 1 {
		cap = append(cap, sec("root", crepo.PublishRoot()))
	}
	add("root-chain-over-cap", "root-chain-too-long", fmt.Sprintf("%d roots in one walk; the cap is %d", trust.MaxRootChain+1, trust.MaxRootChain),
		now, append([]section{sec("trusted-root", crepo.Roots[0])}, cap...)...)
	stolen := rrepo.RootKeys[2]
	attacker := trusttest.New(app, 3003)
	add("root-one-stolen-key", "threshold", "a stolen root key plus the attacker's own keys: 1 of 2",
		now, rwith(sec("root", rrepo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(attacker.RootDoc(2)), append([]*trust.Signer{stolen}, attacker.RootKeys...)...)))...)
	badAlg := strings.Replace(string(trusttest.EncodeRoot(rrepo.RootDoc(2))), `"alg": "ecdsa-p256-sha256"`, `"alg": "ed25519"`, 1)
	add("root-alg-mismatch", "algorithm", "a P-256 key declared as Ed25519",
		now, rwith(sec("root", rrepo.Sign(trust.PayloadTypeRoot, []byte(badAlg), oldKeys[:2]...)))...)

	// Fast-forward and recovery.
	frepo := trusttest.New(app, 3004)
	ff := frepo.ManifestDoc()
	ff.Version = trust.MaxVersion
	ffKeys := frepo.PinsKeys[:2]
	ffb := frepo.Sign(trust.PayloadTypeManifest, trusttest.EncodeManifest(ff), frepo.PinsKeys[:2]...)
	fv2 := frepo.PublishManifest(nil)
	fr2 := frepo.RotatePinsKeys(3, 2)
	fm := frepo.PublishManifest(nil)
	fbase := []section{sec("trusted-root", frepo.Roots[0]), sec("trusted-manifest", frepo.Manifests[0]), sec("manifest", ffb)}
	add("fast-forward-blocks", "rollback", "after a huge version signed by stolen pins keys, the genuine v2 looks like a rollback",
		now, append(fbase, sec("manifest", fv2))...)
	add("fast-forward-recovery", "success", "the root rotates the pins keys; the next genuine manifest is accepted despite the huge version",
		now, append(fbase, sec("root", fr2), sec("manifest", fm))...)
	add("fast-forward-old-keys", "threshold", "after the rotation the stolen keys no longer sign",
		now, append(fbase, sec("root", fr2), sec("manifest", frepo.Sign(trust.PayloadTypeManifest, []byte(payload(fm)), ffKeys...)))...)

	ed := trusttest.NewAlg(app, 3005, trust.Ed25519)
	add("ed25519", "success", "root and manifest signed with Ed25519 keys", now,
		sec("trusted-root", ed.Root()), sec("trusted-manifest", ed.Manifest()), sec("manifest", ed.PublishManifest(nil)))

	// Maximum manifest lifetime (a root's max_manifest_lifetime).
	lrepo := trusttest.New(app, 3006)
	lrepo.MaxManifestLifetime = lrepo.ManifestLifetime // 30 days
	lr2 := lrepo.PublishRoot()
	lbase := []section{sec("trusted-root", lrepo.Roots[0]), sec("trusted-manifest", lrepo.Manifests[0]), sec("root", lr2)}
	lwith := func(extra ...section) []section { return append(append([]section(nil), lbase...), extra...) }
	add("max-lifetime-equal", "success", "root v2 sets max_manifest_lifetime 30 days; a manifest valid for exactly 30 days is accepted",
		now, lwith(sec("manifest", lrepo.PublishManifest(nil)))...)
	add("max-lifetime-exceeded", "manifest-lifetime", "a manifest valid for 30 days and 1 second under a root allowing 30 days",
		now, lwith(sec("manifest", lrepo.PublishManifest(func(m *trust.Manifest) { m.Expires = m.Expires.Add(time.Second) })))...)
	lrepo.MaxManifestLifetime = 0
	lfree := lrepo.PublishRoot()
	lrepo.ManifestLifetime = 365 * day
	add("max-lifetime-absent", "success", "without max_manifest_lifetime a root sets no limit (a manifest valid for 365 days)",
		now, lwith(sec("root", lfree), sec("manifest", lrepo.PublishManifest(nil)))...)
	lpayload := string(trusttest.EncodeRoot(lrepo.RootDoc(1)))
	withLimit := func(v string) []byte {
		return []byte(strings.Replace(lpayload, `"expires": `, `"max_manifest_lifetime": `+v+`,
  "expires": `, 1))
	}
	for _, c := range []struct{ name, expect, comment, value string }{
		{"max-lifetime-zero", "invalid-document", "max_manifest_lifetime 0 (leave the field out for no limit)", "0"},
		{"max-lifetime-too-short", "invalid-document", "max_manifest_lifetime of 59 seconds, under the 60-second minimum", "59"},
		{"max-lifetime-too-long", "invalid-document", "max_manifest_lifetime of 366 days and 1 second, over the maximum", "31622401"},
		{"max-lifetime-string", "malformed", "max_manifest_lifetime as a duration string", `"720h"`},
		{"max-lifetime-negative", "malformed", "a negative max_manifest_lifetime", "-60"},
	} {
		add(c.name, c.expect, "strict decoding: "+c.comment, now,
			sec("trusted-root", lrepo.Sign(trust.PayloadTypeRoot, withLimit(c.value), lrepo.RootKeys[:2]...)))
	}

	// Transparency log (docs/trust.md section 12): the root names a log key.
	lg := trusttest.NewLog(app, 58)
	grepo := trusttest.New(app, 3007)
	grepo.Log = lg.TrustLog()
	grepo.Roots, grepo.Manifests, grepo.ManifestVersion = nil, nil, 0
	gr1 := grepo.PublishRootSignedBy(grepo.RootDoc(1), grepo.RootKeys[:2]...)
	gm1 := grepo.PublishManifest(nil)
	// Log records hash the exact envelope bytes, and a text section keeps
	// no final newline: the logged envelopes are written without one.
	exact := func(b []byte) []byte { return bytes.TrimRight(b, "\n") }
	gr1, gm1 = exact(gr1), exact(gm1)
	lg.Append("root", 1, gr1)
	lg.AppendManifest(gm1)
	gbase := []section{sec("trusted-root", gr1), sec("trusted-manifest", gm1)}
	gwith := func(extra ...section) []section { return append(append([]section(nil), gbase...), extra...) }
	gm2 := exact(grepo.PublishManifest(nil))
	gi2 := lg.AppendManifest(gm2)
	gp2 := lg.Proof(gi2, 0)
	add("log-included", "success", "the root names a log; manifest v2 comes with a proof of its inclusion under a checkpoint the log signed", now,
		gwith(sec("manifest", gm2), sec("proof", gp2))...)
	add("log-no-proof", "not-logged", "the root names a log; a validly signed manifest without a proof", now, gwith(sec("manifest", gm2))...)
	gm2b := exact(grepo.Sign(trust.PayloadTypeManifest, []byte(payload(gm2)), grepo.PinsKeys[1], grepo.PinsKeys[2]))
	add("log-other-bytes", "not-logged", "the same manifest signed by other keys (other envelope bytes) with the logged envelope's proof", now,
		gwith(sec("manifest", gm2b), sec("proof", gp2))...)
	impostor := trusttest.NewLog(app, 59)
	impostor.Mem = lg.Mem
	add("log-checkpoint-other-key", "log-checkpoint", "the proof's checkpoint is signed by a key the root does not name", now,
		gwith(sec("manifest", gm2), sec("proof", impostor.Proof(gi2, 0)))...)
	held := lg.Mem.Size()
	gm3 := exact(grepo.PublishManifest(nil))
	fork := lg.Fork(held)
	gi3 := lg.AppendManifest(gm3)
	add("log-consistent", "success", "v2 at tree size 3, then v3 at size 4 with a consistency proof from 3", now,
		gwith(sec("manifest", gm2), sec("proof", gp2), sec("manifest", gm3), sec("proof", lg.Proof(gi3, held)))...)
	add("log-no-consistency", "log-inconsistent", "v2 at tree size 3, then v3 at size 4 without a consistency proof", now,
		gwith(sec("manifest", gm2), sec("proof", gp2), sec("manifest", gm3), sec("proof", lg.Proof(gi3, 0)))...)
	fork = lg.Fork(held - 1)
	gm2f := exact(grepo.Sign(trust.PayloadTypeManifest, []byte(payload(gm3)), grepo.PinsKeys[:2]...))
	fi := fork.AppendManifest(gm2f)
	add("log-fork", "log-fork", "v2 at tree size 3, then v3 in another tree of size 3 signed by the same log", now,
		gwith(sec("manifest", gm2), sec("proof", gp2), sec("manifest", gm2f), sec("proof", fork.Proof(fi, 0)))...)
	wrepo := trusttest.New(app, 3008)
	witness := trusttest.NewLog("witness", 60)
	wrepo.Log = &trust.Log{Key: lg.Signer.VerifierKey(), Witnesses: []string{witness.Signer.VerifierKey()}, WitnessThreshold: 1}
	wrepo.Roots, wrepo.Manifests, wrepo.ManifestVersion = nil, nil, 0
	wr1 := exact(wrepo.PublishRootSignedBy(wrepo.RootDoc(1), wrepo.RootKeys[:2]...))
	wm1 := exact(wrepo.PublishManifest(nil))
	wlog := trusttest.NewLog(app, 58)
	wlog.AppendManifest(wm1)
	wm2 := exact(wrepo.PublishManifest(nil))
	wi := wlog.AppendManifest(wm2)
	add("log-witness-missing", "log-checkpoint", "the root requires 1 witness cosignature; the checkpoint has none", now,
		sec("trusted-root", wr1), sec("trusted-manifest", wm1), sec("manifest", wm2), sec("proof", wlog.Proof(wi, 0)))
	wlog.Cosigners = append(wlog.Cosigners, witness.Signer)
	add("log-witnessed", "success", "the root requires 1 witness cosignature; the checkpoint has it", now,
		sec("trusted-root", wr1), sec("trusted-manifest", wm1), sec("manifest", wm2), sec("proof", wlog.Proof(wi, 0)))
	gpayload := string(trusttest.EncodeRoot(grepo.RootDoc(1)))
	for _, c := range []struct{ name, expect, comment, from, to string }{
		{"root-log-bad-key", "invalid-document", "a log key whose hash does not match its name and key", lg.Signer.VerifierKey(), "log.example.test/x+00000000+AQ" + strings.Repeat("A", 42) + "="},
		{"root-log-unknown-field", "malformed", "a field the log member does not define", `"key": `, `"url": "https://log.example.test", "key": `},
		{"root-log-threshold-zero", "invalid-document", "witness_threshold 0 (leave it out without witnesses)", `"key": `, `"witness_threshold": 0, "key": `},
	} {
		add(c.name, c.expect, "strict decoding: "+c.comment, now,
			sec("trusted-root", grepo.Sign(trust.PayloadTypeRoot, []byte(strings.Replace(gpayload, c.from, c.to, 1)), grepo.RootKeys[:2]...)))
	}
	return out
}
