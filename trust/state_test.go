package trust_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

const app = "com.example.app"

const day = 24 * time.Hour

// bundled returns the state an app would ship with the repo's current
// root and manifest.
func bundled(t *testing.T, repo *trusttest.Repo) *trust.State {
	t.Helper()
	st, err := trust.NewState(repo.Root(), repo.Manifest())
	if err != nil {
		t.Fatalf("NewState: %v", err)
	}
	return st
}

// mustErr fails unless err matches want with errors.Is.
func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want error %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not match %q", err, want)
	}
}

// mustPins checks that the state enforces the given manifest version.
func mustVersion(t *testing.T, st *trust.State, version uint64) {
	t.Helper()
	if st.Manifest() == nil {
		t.Fatalf("no manifest in force; want v%d", version)
	}
	if got := st.Manifest().Version; got != version {
		t.Fatalf("manifest v%d in force; want v%d", got, version)
	}
	if st.Policies() == nil || len(st.Policies().Policies()) == 0 {
		t.Fatal("state has no pins")
	}
}

// editEnvelope decodes b, lets f change it and re-encodes it.
func editEnvelope(t *testing.T, b []byte, f func(*trust.Envelope)) []byte {
	t.Helper()
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	f(env)
	out, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// payloadOf returns the payload of the latest manifest, as a string.
func payloadOf(t *testing.T, b []byte) string {
	t.Helper()
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(env.Payload)
}

// signPins signs a hand-written manifest payload with the pins threshold.
func signPins(repo *trusttest.Repo, payload string) []byte {
	return repo.Sign(trust.PayloadTypeManifest, []byte(payload), repo.PinsKeys[:repo.PinsThreshold]...)
}

func TestCase01_ValidThreshold(t *testing.T) {
	repo := trusttest.New(app, 1)
	st := bundled(t, repo)
	mustVersion(t, st, 1)
	if st.Root().Version != 1 || st.Floors() != (trust.Floors{RootVersion: 1, ManifestVersion: 1}) {
		t.Fatalf("root v%d floors %+v", st.Root().Version, st.Floors())
	}
	repo.Hosts = append(repo.Hosts, policy.Policy{Pattern: "new.example.com", Pins: []pin.Pin{trusttest.Pin("a"), trusttest.Pin("b")}})
	next, err := st.UpdateManifest(repo.PublishManifest(nil), repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	mustVersion(t, next, 2)
	p, ok := next.Policies().Match("NEW.example.com.")
	if !ok || p.Pins[0] != trusttest.Pin("a") {
		t.Fatalf("new host not enforced: %+v %v", p, ok)
	}
	if _, ok := st.Policies().Match("new.example.com"); ok {
		t.Fatal("the old state changed")
	}
	if next.Stale(repo.Now) {
		t.Fatal("fresh manifest reported stale")
	}
	// Ed25519 keys verify the same way.
	ed := trusttest.NewAlg(app, 2, trust.Ed25519)
	st2, err := bundled(t, ed).UpdateManifest(ed.PublishManifest(nil), ed.Now)
	if err != nil {
		t.Fatalf("Ed25519-signed manifest: %v", err)
	}
	mustVersion(t, st2, 2)
}

func TestCase02_UnknownKeyRejected(t *testing.T) {
	repo := trusttest.New(app, 2)
	st := bundled(t, repo)
	strangers := repo.NewKeys(2)
	m := repo.PublishManifestSignedBy(repo.ManifestDoc(), strangers...)
	_, err := st.UpdateManifest(m, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	var te *trust.ThresholdError
	if !errors.As(err, &te) || te.Unknown != 2 || te.Valid != 0 || te.Role != trust.RolePins {
		t.Fatalf("details: %+v", te)
	}
	// One genuine key and one unknown key do not make 2.
	m = repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[0], strangers[0])
	_, err = st.UpdateManifest(m, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if !strings.Contains(err.Error(), "threshold not met: 1 of 2 pins signatures") {
		t.Fatalf("message: %v", err)
	}
	// A root key is not a pins key.
	m = repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.RootKeys...)
	_, err = st.UpdateManifest(m, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
}

func TestCase03_SignatureCountedOnce(t *testing.T) {
	repo := trusttest.New(app, 3)
	st := bundled(t, repo)
	one := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[0])
	// The same signature twice.
	twice := editEnvelope(t, one, func(e *trust.Envelope) { e.Signatures = append(e.Signatures, e.Signatures[0]) })
	_, err := st.UpdateManifest(twice, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	var te *trust.ThresholdError
	if !errors.As(err, &te) || te.Valid != 1 || te.Repeated != 1 {
		t.Fatalf("details: %+v", te)
	}
	// Two different signatures by the same key (ECDSA is randomised).
	env, _ := trust.ParseEnvelope(one)
	env.Signatures = nil
	for range 2 {
		other := &trust.Envelope{PayloadType: env.PayloadType, Payload: env.Payload}
		if _, err := other.Sign(repo.PinsKeys[0], repo.Rand()); err != nil {
			t.Fatal(err)
		}
		env.Signatures = append(env.Signatures, other.Signatures...)
	}
	if bytes.Equal(env.Signatures[0].Sig, env.Signatures[1].Sig) {
		t.Fatal("expected two distinct signatures")
	}
	b, _ := env.Marshal()
	_, err = st.UpdateManifest(b, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	// A valid signature relabelled with another role key's id is invalid.
	relabel := editEnvelope(t, one, func(e *trust.Envelope) {
		e.Signatures = append(e.Signatures, trust.Signature{KeyID: repo.PinsKeys[1].Key.ID, Sig: e.Signatures[0].Sig})
	})
	_, err = st.UpdateManifest(relabel, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if !errors.As(err, &te) || te.Invalid != 1 {
		t.Fatalf("details: %+v", te)
	}
	// A root listing the same key twice is refused.
	doc := repo.RootDoc(2)
	doc.Keys = append(doc.Keys, doc.Keys[0])
	if _, err := doc.Marshal(); !errors.Is(err, trust.ErrInvalidDocument) {
		t.Fatalf("root with a repeated key: %v", err)
	}
	// Signing again with the same key changes nothing.
	env2, _ := trust.ParseEnvelope(one)
	added, err := env2.Sign(repo.PinsKeys[0], repo.Rand())
	if err != nil || added || len(env2.Signatures) != 1 {
		t.Fatalf("re-sign: added=%v n=%d err=%v", added, len(env2.Signatures), err)
	}
}

func TestCase04_BelowThresholdKeepsTrusted(t *testing.T) {
	repo := trusttest.New(app, 4)
	st := bundled(t, repo)
	before := st.Policies()
	m := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[2])
	next, err := st.UpdateManifest(m, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if next != nil {
		t.Fatal("a state was returned with the error")
	}
	mustVersion(t, st, 1)
	if st.Policies() != before {
		t.Fatal("trusted policies changed")
	}
	// Root role: one of two root signatures.
	doc := repo.RootDoc(2)
	r := repo.PublishRootSignedBy(doc, repo.RootKeys[0])
	_, err = st.UpdateRoot(r, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if !strings.Contains(err.Error(), "threshold not met: 1 of 2 root signatures") {
		t.Fatalf("message: %v", err)
	}
}

func TestCase05_FlippedPayloadByte(t *testing.T) {
	repo := trusttest.New(app, 5)
	st := bundled(t, repo)
	good := repo.PublishManifest(nil)
	env, _ := trust.ParseEnvelope(good)
	for _, i := range []int{0, len(env.Payload) / 3, len(env.Payload) / 2, len(env.Payload) - 2} {
		bad := editEnvelope(t, good, func(e *trust.Envelope) { e.Payload[i] ^= 0x01 })
		_, err := st.UpdateManifest(bad, repo.Now)
		mustErr(t, err, trust.ErrThreshold)
		var te *trust.ThresholdError
		if !errors.As(err, &te) || te.Invalid != 2 {
			t.Fatalf("byte %d: %+v", i, te)
		}
	}
	// A flipped signature byte too.
	bad := editEnvelope(t, good, func(e *trust.Envelope) { e.Signatures[0].Sig[10] ^= 0x80 })
	_, err := st.UpdateManifest(bad, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if _, err := st.UpdateManifest(good, repo.Now); err != nil {
		t.Fatalf("the unmodified manifest: %v", err)
	}
}

func TestCase06_PayloadTypeChanged(t *testing.T) {
	repo := trusttest.New(app, 6)
	st := bundled(t, repo)
	good := repo.PublishManifest(nil)
	for _, typ := range []string{"application/json", trust.PayloadTypeRoot, "application/vnd.pinset.manifest+JSON"} {
		bad := editEnvelope(t, good, func(e *trust.Envelope) { e.PayloadType = typ })
		_, err := st.UpdateManifest(bad, repo.Now)
		mustErr(t, err, trust.ErrPayloadType)
	}
	// The type is covered by the signature: a manifest payload signed as a
	// root type is not a valid root either.
	asRoot := repo.Sign(trust.PayloadTypeRoot, []byte(payloadOf(t, good)), repo.RootKeys...)
	_, err := st.UpdateRoot(asRoot, repo.Now)
	mustErr(t, err, trust.ErrMalformed)
}

func TestCase07_AlgorithmFromKeyOnly(t *testing.T) {
	repo := trusttest.New(app, 7)
	st := bundled(t, repo)
	rootPayload := func(edit func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(trusttest.EncodeRoot(repo.RootDoc(2)), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return repo.Sign(trust.PayloadTypeRoot, b, repo.RootSigners()...)
	}
	for name, alg := range map[string]string{"declared ed25519": "ed25519", "rsa": "rsa-pkcs1-sha256", "none": "none", "hmac": "hs256"} {
		b := rootPayload(func(m map[string]any) { m["keys"].([]any)[0].(map[string]any)["alg"] = alg })
		_, err := st.UpdateRoot(b, repo.Now)
		mustErr(t, err, trust.ErrAlgorithm)
		_ = name
	}
	// A P-384 key is not allowed.
	if _, err := trust.NewKey(p384Key(t)); !errors.Is(err, trust.ErrAlgorithm) {
		t.Fatalf("P-384: %v", err)
	}
	// A message cannot name an algorithm: an "alg" in a signature is an
	// unknown field.
	m := repo.PublishManifest(nil)
	withAlg := strings.Replace(string(m), `"keyid"`, `"alg": "ed25519", "keyid"`, 1)
	_, err := st.UpdateManifest([]byte(withAlg), repo.Now)
	mustErr(t, err, trust.ErrMalformed)
	// An Ed25519 signature under an ECDSA key's id does not verify.
	edKey, _ := trust.GenerateKey(trust.Ed25519, repo.Rand())
	env, _ := trust.ParseEnvelope(m)
	edEnv := &trust.Envelope{PayloadType: env.PayloadType, Payload: env.Payload}
	edEnv.Sign(edKey, nil)
	env.Signatures = []trust.Signature{{KeyID: repo.PinsKeys[0].Key.ID, Sig: edEnv.Signatures[0].Sig}, env.Signatures[1]}
	b, _ := env.Marshal()
	_, err = st.UpdateManifest(b, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
}

func TestCase08_ManifestRollback(t *testing.T) {
	repo := trusttest.New(app, 8)
	st := bundled(t, repo)
	v2 := repo.PublishManifest(nil)
	v3 := repo.PublishManifest(nil)
	st, err := st.UpdateManifest(v3, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.UpdateManifest(v2, repo.Now)
	mustErr(t, err, trust.ErrRollback)
	var ve *trust.VersionError
	if !errors.As(err, &ve) || ve.Got != 2 || ve.Trusted != 3 || errors.Is(err, trust.ErrBelowFloor) {
		t.Fatalf("details: %+v %v", ve, err)
	}
	mustVersion(t, st, 3)
}

func TestCase09_SameVersion(t *testing.T) {
	repo := trusttest.New(app, 9)
	st := bundled(t, repo)
	v2 := repo.PublishManifest(nil)
	st, err := st.UpdateManifest(v2, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := st.UpdateManifest(v2, repo.Now)
	if err != nil || again != st {
		t.Fatalf("same bytes: state changed or error %v", err)
	}
	// Same payload with one more signature: still the same document.
	more := editEnvelope(t, v2, func(e *trust.Envelope) { e.Sign(repo.PinsKeys[2], nil) })
	if again, err := st.UpdateManifest(more, repo.Now); err != nil || again != st {
		t.Fatalf("same payload, more signatures: %v", err)
	}
	// Same version, different contents: an alarm.
	repo.ManifestVersion = 1
	other := repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = m.Hosts[:1] })
	_, err = st.UpdateManifest(other, repo.Now)
	mustErr(t, err, trust.ErrEquivocation)
	if errors.Is(err, trust.ErrRollback) || !strings.Contains(err.Error(), "ALARM") {
		t.Fatalf("equivocation must be its own error: %v", err)
	}
	// The same for roots.
	doc := repo.RootDoc(1)
	doc.Expires = doc.Expires.Add(day)
	r := repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), repo.RootKeys...)
	_, err = st.UpdateRoot(r, repo.Now)
	mustErr(t, err, trust.ErrEquivocation)
	if s, err := st.UpdateRoot(repo.Roots[0], repo.Now); err != nil || s != st {
		t.Fatalf("trusted root again: %v", err)
	}
}

func TestCase10_BelowBundledFloor(t *testing.T) {
	repo := trusttest.New(app, 10)
	v2 := repo.PublishManifest(nil)
	repo.PublishManifest(nil) // v3 ships in the app
	st := bundled(t, repo)
	if st.Floors().ManifestVersion != 3 {
		t.Fatalf("floors %+v", st.Floors())
	}
	_, err := st.UpdateManifest(v2, repo.Now)
	mustErr(t, err, trust.ErrBelowFloor)
	mustErr(t, err, trust.ErrRollback)
	// Even after a pins-key rotation lifts the version check, the floor
	// stays: a re-signed v2 bound to the new root is refused.
	st, err = st.UpdateRoot(repo.RotatePinsKeys(3, 2), repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	repo.ManifestVersion = 1
	_, err = st.UpdateManifest(repo.PublishManifest(nil), repo.Now)
	mustErr(t, err, trust.ErrBelowFloor)
	// Raised floors apply too.
	repo.ManifestVersion = 9
	raised := st.WithFloors(trust.Floors{ManifestVersion: 20})
	_, err = raised.UpdateManifest(repo.PublishManifest(nil), repo.Now)
	mustErr(t, err, trust.ErrBelowFloor)
	// Roots: the bundled root version is a floor for root updates.
	_, err = st.UpdateRoot(repo.Roots[0], repo.Now)
	mustErr(t, err, trust.ErrRollback)
}

func TestCase11_ExpiredManifestKeepsTrusted(t *testing.T) {
	repo := trusttest.New(app, 11)
	st := bundled(t, repo)
	v2 := repo.PublishManifest(nil)
	later := repo.Now.Add(repo.ManifestLifetime + time.Second)
	_, err := st.UpdateManifest(v2, later)
	mustErr(t, err, trust.ErrExpired)
	var ee *trust.ExpiredError
	if !errors.As(err, &ee) || ee.Document != "manifest" || ee.Version != 2 {
		t.Fatalf("details: %+v", ee)
	}
	mustVersion(t, st, 1)
	if !st.Stale(later) || st.Stale(repo.Now) {
		t.Fatal("Stale does not follow the expiry")
	}
	// At exactly the expiry instant it is expired.
	_, err = st.UpdateManifest(v2, repo.Now.Add(repo.ManifestLifetime))
	mustErr(t, err, trust.ErrExpired)
}

func TestCase12_IssuedAtRules(t *testing.T) {
	repo := trusttest.New(app, 12)
	st := bundled(t, repo)
	future := repo.PublishManifest(func(m *trust.Manifest) {
		m.IssuedAt = repo.Now.Add(time.Hour)
		m.Expires = m.IssuedAt.Add(day)
	})
	_, err := st.UpdateManifest(future, repo.Now)
	mustErr(t, err, trust.ErrIssuedInFuture)
	// Within the allowed clock skew it is fine.
	if _, err := st.UpdateManifest(future, repo.Now.Add(time.Hour-trust.MaxClockSkew)); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	// Expires before issued-at: written by hand, since Marshal refuses it.
	p := payloadOf(t, repo.PublishManifest(nil))
	p = strings.Replace(p, `"expires": "2026-01-31T00:00:00Z"`, `"expires": "2025-12-31T00:00:00Z"`, 1)
	_, err = st.UpdateManifest(signPins(repo, p), repo.Now)
	mustErr(t, err, trust.ErrExpiresBeforeIssued)
	p = strings.Replace(p, `"expires": "2025-12-31T00:00:00Z"`, `"expires": "2026-01-01T00:00:00Z"`, 1)
	_, err = st.UpdateManifest(signPins(repo, p), repo.Now)
	mustErr(t, err, trust.ErrExpiresBeforeIssued)
}

func TestCase13_ClockBackDoesNotRevive(t *testing.T) {
	repo := trusttest.New(app, 13)
	st := bundled(t, repo)
	v1 := repo.Manifest()
	repo.Now = trusttest.Epoch.Add(40 * day)
	v2 := repo.PublishManifest(nil)
	st, err := st.UpdateManifest(v2, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	// The clock goes back to when v1 was current: v1 is still a rollback.
	_, err = st.UpdateManifest(v1, trusttest.Epoch.Add(day))
	mustErr(t, err, trust.ErrRollback)
	// A manifest issued before the latest seen issue time, and expired by
	// then, is not made current by a clock that reads earlier.
	old := repo.PublishManifest(func(m *trust.Manifest) {
		m.IssuedAt = trusttest.Epoch
		m.Expires = trusttest.Epoch.Add(30 * day)
	})
	_, err = st.UpdateManifest(old, trusttest.Epoch.Add(day))
	mustErr(t, err, trust.ErrExpired)
	// Staleness uses the latest issue time seen too.
	if st.Stale(trusttest.Epoch) {
		t.Fatal("v2 is not stale")
	}
	mustVersion(t, st, 2)
}

func TestCase14_FastForwardRecovery(t *testing.T) {
	repo := trusttest.New(app, 14)
	st := bundled(t, repo)
	// An attacker steals two pins keys and signs a huge version.
	ff := repo.ManifestDoc()
	ff.Version = trust.MaxVersion
	ff.Hosts = []policy.Policy{{Pattern: "api.example.com", Pins: []pin.Pin{trusttest.Pin("evil1"), trusttest.Pin("evil2")}}}
	stolenKeys := []*trust.Signer{repo.PinsKeys[0], repo.PinsKeys[1]}
	ffb := repo.Sign(trust.PayloadTypeManifest, trusttest.EncodeManifest(ff), stolenKeys...)
	st, err := st.UpdateManifest(ffb, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	genuine := repo.PublishManifest(nil) // v2
	_, err = st.UpdateManifest(genuine, repo.Now)
	mustErr(t, err, trust.ErrRollback)
	// The owners rotate the pins keys with the offline root keys.
	st, err = st.UpdateRoot(repo.RotatePinsKeys(3, 2), repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	// Until a new manifest arrives, the last valid pins stay enforced.
	mustVersion(t, st, trust.MaxVersion)
	// The stolen keys can no longer sign, even bound to the new root.
	stolen := repo.ManifestDoc()
	stolen.Version = trust.MaxVersion - 1
	_, err = st.UpdateManifest(repo.Sign(trust.PayloadTypeManifest, trusttest.EncodeManifest(stolen), stolenKeys...), repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	// The genuine v3 bound to root v2 is accepted: recovered.
	st, err = st.UpdateManifest(repo.PublishManifest(nil), repo.Now)
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	mustVersion(t, st, 3)
	// And the fast-forwarded manifest cannot come back.
	_, err = st.UpdateManifest(ffb, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	// From now on versions are strict again.
	_, err = st.UpdateManifest(genuine, repo.Now)
	mustErr(t, err, trust.ErrThreshold) // signed by the old keys
}

func TestCase15_MixAndMatch(t *testing.T) {
	repo := trusttest.New(app, 15)
	st := bundled(t, repo)
	wrong := repo.PublishManifest(func(m *trust.Manifest) { m.RootVersion = 2 })
	_, err := st.UpdateManifest(wrong, repo.Now)
	mustErr(t, err, trust.ErrRootMismatch)
	// After the root moves to v2, a manifest bound to v1 is refused.
	old := repo.PublishManifest(nil) // bound to v1
	st, err = st.UpdateRoot(repo.PublishRoot(), repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.UpdateManifest(old, repo.Now)
	mustErr(t, err, trust.ErrRootMismatch)
	if _, err := st.UpdateManifest(repo.PublishManifest(nil), repo.Now); err != nil {
		t.Fatal(err)
	}
}

func TestCase16_RootRotationNeedsOldAndNewKeys(t *testing.T) {
	repo := trusttest.New(app, 16)
	st := bundled(t, repo)
	oldKeys := repo.RootKeys
	repo.RootKeys = repo.NewKeys(3)
	doc := repo.RootDoc(2)
	var te *trust.ThresholdError

	onlyNew := repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), repo.RootKeys...)
	_, err := st.UpdateRoot(onlyNew, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if !errors.As(err, &te) || te.Version != 1 {
		t.Fatalf("only new keys: %+v", te)
	}
	onlyOld := repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), oldKeys...)
	_, err = st.UpdateRoot(onlyOld, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	if !errors.As(err, &te) || te.Version != 2 {
		t.Fatalf("only old keys: %+v", te)
	}
	both := repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), oldKeys[0], oldKeys[2], repo.RootKeys[1], repo.RootKeys[2])
	next, err := st.UpdateRoot(both, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	if next.Root().Version != 2 || next.Root().Key(oldKeys[0].Key.ID) != nil {
		t.Fatal("root v2 not in force")
	}
	mustVersion(t, next, 1) // the manifest stays until a new one arrives
}

func TestCase17_RootVersionGap(t *testing.T) {
	repo := trusttest.New(app, 17)
	st := bundled(t, repo)
	v2 := repo.PublishRoot()
	v3 := repo.PublishRoot()
	_, err := st.UpdateRoot(v3, repo.Now)
	mustErr(t, err, trust.ErrRootVersionGap)
	next, err := st.UpdateRootChain([][]byte{v2, v3}, repo.Now)
	if err != nil || next.Root().Version != 3 {
		t.Fatalf("chain: %v", err)
	}
	// Out of order is a gap too.
	_, err = st.UpdateRootChain([][]byte{v3, v2}, repo.Now)
	mustErr(t, err, trust.ErrRootVersionGap)
}

func TestCase18_RootChainCap(t *testing.T) {
	repo := trusttest.New(app, 18)
	st := bundled(t, repo)
	for range trust.MaxRootChain + 1 {
		repo.PublishRoot()
	}
	chain := repo.Roots[1:]
	_, err := st.UpdateRootChain(chain, repo.Now)
	mustErr(t, err, trust.ErrRootChainTooLong)
	next, err := st.UpdateRootChain(chain[:trust.MaxRootChain], repo.Now)
	if err != nil || next.Root().Version != trust.MaxRootChain+1 {
		t.Fatalf("at the cap: %v", err)
	}
	// The rest, in a second walk from there.
	next, err = next.UpdateRootChain(chain[trust.MaxRootChain:], repo.Now)
	if err != nil || next.Root().Version != trust.MaxRootChain+2 {
		t.Fatalf("second walk: %v", err)
	}
}

func TestCase19_ExpiredIntermediateRoot(t *testing.T) {
	repo := trusttest.New(app, 19)
	st := bundled(t, repo)
	repo.RootLifetime = 10 * day
	v2 := repo.PublishRoot()
	repo.Now = repo.Now.Add(5 * day)
	repo.RootLifetime = 365 * day
	v3 := repo.PublishRoot()
	at := trusttest.Epoch.Add(20 * day) // v2 expired, v3 current
	next, err := st.UpdateRootChain([][]byte{v2, v3}, at)
	if err != nil || next.Root().Version != 3 {
		t.Fatalf("expired intermediate: %v", err)
	}
	_, err = st.UpdateRootChain([][]byte{v2}, at)
	mustErr(t, err, trust.ErrExpired)
	var ee *trust.ExpiredError
	if !errors.As(err, &ee) || ee.Document != "root" || ee.Version != 2 {
		t.Fatalf("details: %+v", ee)
	}
	// Under an expired root no manifest is accepted.
	stale, err := trust.NewState(repo.Roots[0], repo.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = stale.UpdateManifest(repo.PublishManifest(func(m *trust.Manifest) { m.RootVersion = 1 }), trusttest.Epoch.Add(400*day))
	mustErr(t, err, trust.ErrExpired)
}

func TestCase20_CompromisedRootKeyBelowThreshold(t *testing.T) {
	repo := trusttest.New(app, 20)
	st := bundled(t, repo)
	stolen := repo.RootKeys[1]
	attacker := trusttest.New(app, 99) // the attacker's own keys
	doc := attacker.RootDoc(2)
	b := repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), append([]*trust.Signer{stolen}, attacker.RootKeys...)...)
	_, err := st.UpdateRoot(b, repo.Now)
	mustErr(t, err, trust.ErrThreshold)
	var te *trust.ThresholdError
	if !errors.As(err, &te) || te.Valid != 1 || te.Threshold != 2 || te.Version != 1 {
		t.Fatalf("details: %+v", te)
	}
	// The owners then rotate the stolen key out with two good keys.
	repo.RootKeys = []*trust.Signer{repo.RootKeys[0], repo.RootKeys[2], repo.NewKey()}
	next, err := st.UpdateRoot(repo.PublishRoot(), repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	if next.Root().Key(stolen.Key.ID) != nil {
		t.Fatal("stolen key still in the root")
	}
}

// endless is a reader that never ends and counts what was read from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestCase21_OverCapAbortedEarly(t *testing.T) {
	r := &endless{}
	_, err := trust.ReadEnvelope(r)
	mustErr(t, err, trust.ErrTooLarge)
	if r.n > trust.MaxEnvelopeSize+64<<10 {
		t.Fatalf("read %d bytes from an endless body; the cap is %d", r.n, trust.MaxEnvelopeSize)
	}
	repo := trusttest.New(app, 21)
	st := bundled(t, repo)
	big := append(repo.PublishManifest(nil), bytes.Repeat([]byte(" "), trust.MaxEnvelopeSize)...)
	_, err = st.UpdateManifest(big, repo.Now)
	mustErr(t, err, trust.ErrTooLarge)
	// A payload over its own cap inside an envelope under the cap.
	huge := repo.Sign(trust.PayloadTypeManifest, bytes.Repeat([]byte(" "), trust.MaxPayloadSize+1), repo.PinsKeys[0])
	_, err = st.UpdateManifest(huge, repo.Now)
	mustErr(t, err, trust.ErrTooLarge)
	// An exact-size body is read in full.
	ok, err := trust.ReadEnvelope(io.LimitReader(&endless{}, trust.MaxEnvelopeSize))
	if err != nil || len(ok) != trust.MaxEnvelopeSize {
		t.Fatalf("at the cap: %d %v", len(ok), err)
	}
}

func TestCase23_GarbageKeepsTrusted(t *testing.T) {
	repo := trusttest.New(app, 23)
	st := bundled(t, repo)
	for name, body := range map[string]string{
		"empty":      "",
		"html":       "<!doctype html><html><body>404 Not Found</body></html>",
		"not found":  "404 page not found\n",
		"garbage":    "\x00\x01\xff\xfe garbage",
		"json array": "[]",
		"null":       "null",
		"truncated":  string(repo.PublishManifest(nil)[:100]),
	} {
		next, err := st.UpdateManifest([]byte(body), repo.Now)
		if err == nil || next != nil {
			t.Fatalf("%s: accepted", name)
		}
		if !errors.Is(err, trust.ErrMalformed) {
			t.Fatalf("%s: %v", name, err)
		}
		mustVersion(t, st, 1)
	}
}

func TestCase24_StrictDecoding(t *testing.T) {
	repo := trusttest.New(app, 24)
	st := bundled(t, repo)
	p := payloadOf(t, repo.PublishManifest(nil))
	cases := map[string]string{
		"duplicate key":           strings.Replace(p, `"version": 2,`, `"version": 2, "version": 3,`, 1),
		"duplicate escaped key":   strings.Replace(p, `"version": 2,`, `"version": 2, "\u0076ersion": 3,`, 1),
		"case-variant key":        strings.Replace(p, `"version": 2,`, `"Version": 2,`, 1),
		"case-variant extra":      strings.Replace(p, `"version": 2,`, `"version": 2, "VERSION": 3,`, 1),
		"unknown field":           strings.Replace(p, `"version": 2,`, `"version": 2, "enforce": false,`, 1),
		"unknown host field":      strings.Replace(p, `"pattern":`, `"disabled": true, "pattern":`, 1),
		"float":                   strings.Replace(p, `"version": 2,`, `"version": 2.0,`, 1),
		"exponent":                strings.Replace(p, `"version": 2,`, `"version": 2e0,`, 1),
		"negative":                strings.Replace(p, `"version": 2,`, `"version": -2,`, 1),
		"leading zero":            strings.Replace(p, `"version": 2,`, `"version": 02,`, 1),
		"string version":          strings.Replace(p, `"version": 2,`, `"version": "2",`, 1),
		"invalid UTF-8":           strings.Replace(p, `"com.example.app"`, "\"com.example.app\xff\"", 1),
		"lone surrogate":          strings.Replace(p, `"com.example.app"`, `"com.example.app\ud800"`, 1),
		"trailing data":           p + `{}`,
		"trailing garbage":        p + "x",
		"byte order mark":         "\ufeff" + p,
		"time with offset":        strings.Replace(p, `"2026-01-01T00:00:00Z"`, `"2026-01-01T01:00:00+01:00"`, 1),
		"time with fraction":      strings.Replace(p, `"2026-01-01T00:00:00Z"`, `"2026-01-01T00:00:00.5Z"`, 1),
		"null field":              strings.Replace(p, `"version": 2,`, `"version": null,`, 1),
		"control char in string":  strings.Replace(p, `"com.example.app"`, "\"com.example\napp\"", 1),
		"bool as string":          strings.Replace(p, `"pattern": "**.cdn.example.com",`, `"pattern": "**.cdn.example.com", "include_subdomains": "false",`, 1),
		"pin in okhttp spelling":  strings.Replace(p, `"pins": [`+"\n        \"", `"pins": [`+"\n        \"sha256/", 1),
		"deep nesting":            strings.Replace(p, `"version": 2,`, `"version": 2, "x": `+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,`, 1),
		"version over 2^53-1":     strings.Replace(p, `"version": 2,`, `"version": 9007199254740992,`, 1),
		"missing field":           strings.Replace(p, `"root_version": 1,`, ``, 1),
		"unquoted key":            strings.Replace(p, `"version": 2,`, `version: 2,`, 1),
		"single-quoted string":    strings.Replace(p, `"com.example.app"`, `'com.example.app'`, 1),
		"comment":                 strings.Replace(p, `"version": 2,`, `"version": 2, // v2`, 1),
		"trailing comma in array": strings.Replace(p, "\n  ]\n}", ",\n  ]\n}", 1),
	}
	for name, bad := range cases {
		if bad == p {
			t.Fatalf("%s: the edit did not apply", name)
		}
		_, err := st.UpdateManifest(signPins(repo, bad), repo.Now)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, trust.ErrMalformed) && !errors.Is(err, trust.ErrInvalidDocument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The unmodified payload is fine, so the failures above are the edits.
	if _, err := st.UpdateManifest(signPins(repo, p), repo.Now); err != nil {
		t.Fatal(err)
	}
	// The envelope is strict too.
	env := string(repo.PublishManifest(nil))
	for name, bad := range map[string]string{
		"duplicate payload":    strings.Replace(env, `"payloadType"`, `"payload": "e30=", "payloadType"`, 1),
		"case-variant":         strings.Replace(env, `"payloadType"`, `"PayloadType"`, 1),
		"unknown field":        strings.Replace(env, `"payloadType"`, `"signed": true, "payloadType"`, 1),
		"url-safe base64 sig":  strings.Replace(strings.Replace(env, `+`, `-`, -1), `/`, `_`, -1),
		"unpadded payload":     strings.Replace(env, `=",`, `",`, 1),
		"trailing data":        env + "[]",
		"signatures not array": strings.Replace(env, `"signatures": [`, `"signatures": {"x": [`, 1),
	} {
		if bad == env {
			continue // the edit does not apply to this envelope's bytes
		}
		_, err := st.UpdateManifest([]byte(bad), repo.Now)
		if !errors.Is(err, trust.ErrMalformed) {
			t.Errorf("envelope %s: %v", name, err)
		}
	}
	var de *trust.DecodeError
	_, err := st.UpdateManifest(signPins(repo, cases["duplicate key"]), repo.Now)
	if !errors.As(err, &de) || de.Offset < 0 || !strings.Contains(de.Reason, "duplicate key") {
		t.Fatalf("details: %+v", de)
	}
}

func TestCase25_HostRules(t *testing.T) {
	repo := trusttest.New(app, 25)
	st := bundled(t, repo)
	p := payloadOf(t, repo.PublishManifest(nil))
	var hosts struct {
		Hosts []json.RawMessage `json:"hosts"`
	}
	json.Unmarshal([]byte(p), &hosts)
	onePin := strings.Replace(p, string(hosts.Hosts[0]), `{"pattern": "api.example.com", "pins": ["`+trusttest.Pin("x").String()+`"]}`, 1)
	_, err := st.UpdateManifest(signPins(repo, onePin), repo.Now)
	mustErr(t, err, trust.ErrInvalidDocument)
	mustErr(t, err, policy.ErrNoBackupPin)
	// Report-only hosts may carry one pin.
	reportOnly := strings.Replace(p, string(hosts.Hosts[0]), `{"pattern": "api.example.com", "pins": ["`+trusttest.Pin("x").String()+`"], "report_only": true}`, 1)
	if _, err := st.UpdateManifest(signPins(repo, reportOnly), repo.Now); err != nil {
		t.Fatalf("report-only with one pin: %v", err)
	}
	short := strings.Replace(p, trusttest.Pin("api-live").String(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 1)
	_, err = st.UpdateManifest(signPins(repo, short), repo.Now)
	mustErr(t, err, trust.ErrInvalidDocument)
	long := strings.Replace(p, trusttest.Pin("api-live").String(), trusttest.Pin("api-live").String()[:43]+"AAAA", 1)
	_, err = st.UpdateManifest(signPins(repo, long), repo.Now)
	if err == nil {
		t.Fatal("33-byte pin accepted")
	}
	// And Marshal refuses to write such a manifest in the first place.
	m := repo.ManifestDoc()
	m.Hosts[0].Pins = m.Hosts[0].Pins[:1]
	if _, err := m.Marshal(); !errors.Is(err, policy.ErrNoBackupPin) {
		t.Fatalf("Marshal: %v", err)
	}
	// Two rules covering the same names are refused.
	dup := strings.Replace(p, `"**.cdn.example.com"`, `"api.example.com"`, 1)
	_, err = st.UpdateManifest(signPins(repo, dup), repo.Now)
	mustErr(t, err, trust.ErrInvalidDocument)
}

func TestCase26_WrongApp(t *testing.T) {
	repo := trusttest.New(app, 26)
	st := bundled(t, repo)
	other := repo.PublishManifest(func(m *trust.Manifest) { m.AppID = "com.example.other" })
	_, err := st.UpdateManifest(other, repo.Now)
	mustErr(t, err, trust.ErrWrongApp)
	doc := repo.RootDoc(2)
	doc.AppID = "com.example.other"
	_, err = st.UpdateRoot(repo.Sign(trust.PayloadTypeRoot, trusttest.EncodeRoot(doc), repo.RootKeys...), repo.Now)
	mustErr(t, err, trust.ErrWrongApp)
}

func TestCase27_CorruptedCacheDetected(t *testing.T) {
	repo := trusttest.New(app, 27)
	st := bundled(t, repo)
	roots := [][]byte{repo.RotatePinsKeys(3, 2)}
	cached := repo.PublishManifest(nil)
	// A good cache restores, even once the manifest has expired.
	good, err := st.Restore(roots, cached)
	if err != nil {
		t.Fatal(err)
	}
	mustVersion(t, good, 2)
	// Bit flips anywhere, truncation: refused; the bundled state stays.
	for i := 0; i < len(cached); i += 97 {
		bad := bytes.Clone(cached)
		bad[i] ^= 0x04
		if _, err := st.Restore(roots, bad); err == nil {
			t.Fatalf("bit flip at byte %d accepted", i)
		}
	}
	flipped := bytes.Clone(roots[0])
	flipped[len(flipped)/2] ^= 0x10
	if _, err := st.Restore([][]byte{flipped}, cached); err == nil {
		t.Fatal("corrupted cached root accepted")
	}
	mustVersion(t, st, 1)
}

func TestCase28_PartialCacheWriteRefused(t *testing.T) {
	repo := trusttest.New(app, 28)
	st := bundled(t, repo)
	cached := repo.PublishManifest(nil)
	// Whatever prefix a crash leaves on disk, it never verifies.
	for n := 0; n < len(cached)-1; n++ {
		if _, err := st.Restore(nil, cached[:n]); err == nil && n > 0 {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
	// (A newline-less copy is the same document: the envelope layout is free.)
	if _, err := st.Restore(nil, bytes.TrimSpace(cached)); err != nil {
		t.Fatal(err)
	}
}

func TestNewStateRequiresSignedBundle(t *testing.T) {
	repo := trusttest.New(app, 40)
	unsigned := editEnvelope(t, repo.Root(), func(e *trust.Envelope) { e.Signatures = nil })
	_, err := trust.NewState(unsigned, nil)
	mustErr(t, err, trust.ErrThreshold)
	_, err = trust.NewState(repo.Root(), editEnvelope(t, repo.Manifest(), func(e *trust.Envelope) { e.Signatures = e.Signatures[:1] }))
	mustErr(t, err, trust.ErrThreshold)
	st, err := trust.NewState(repo.Root(), nil)
	if err != nil || st.Manifest() != nil || st.Policies() != nil || !st.Stale(repo.Now) {
		t.Fatalf("root only: %v", err)
	}
	// VerifyRootChain: the service's check of a published chain.
	repo.PublishRoot()
	repo.RotateRootKeys(2, 2)
	s, err := trust.VerifyRootChain(repo.Roots, repo.Now)
	if err != nil || s.Root().Version != 3 {
		t.Fatalf("VerifyRootChain: %v", err)
	}
	_, err = trust.VerifyRootChain([][]byte{repo.Roots[0], repo.Roots[2]}, repo.Now)
	mustErr(t, err, trust.ErrRootVersionGap)
}

func p384Key(t *testing.T) any {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// A root's max_manifest_lifetime bounds how long a manifest signed under
// it may be valid: a longer one is refused with a *LifetimeError, for
// fetched, bundled and cached manifests alike, and the trusted one stays.
// Roots without the field set no limit; the field round-trips.
func TestMaxManifestLifetime(t *testing.T) {
	repo := trusttest.New(app, 77)
	v1, err := trust.NewState(repo.Root(), repo.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	repo.MaxManifestLifetime = 7 * day
	r2 := repo.PublishRoot()
	repo.ManifestLifetime = 7 * day
	ok := repo.PublishManifest(nil)
	long := repo.PublishManifest(func(m *trust.Manifest) { m.Expires = m.IssuedAt.Add(7*day + time.Second) })

	st, err := v1.UpdateRoot(r2, repo.Now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root().MaxManifestLifetime != 7*day {
		t.Fatalf("decoded max_manifest_lifetime %v", st.Root().MaxManifestLifetime)
	}
	_, err = st.UpdateManifest(long, repo.Now)
	mustErr(t, err, trust.ErrManifestLifetime)
	var le *trust.LifetimeError
	if !errors.As(err, &le) || le.Max != 7*day || le.Lifetime != 7*day+time.Second || le.RootVersion != 2 {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "max_manifest_lifetime") {
		t.Errorf("message %q does not name the field", err)
	}
	if _, err := st.UpdateManifest(ok, repo.Now); err != nil {
		t.Fatalf("a manifest at the limit: %v", err)
	}
	_, err = trust.NewState(r2, long) // as a bundled pair (signed by v1 and v2 keys alike)
	mustErr(t, err, trust.ErrManifestLifetime)
	_, err = v1.Restore([][]byte{r2}, long)
	mustErr(t, err, trust.ErrManifestLifetime)

	for _, bad := range []time.Duration{time.Second, 59 * time.Second, 367 * day, time.Hour + time.Millisecond} {
		doc := repo.RootDoc(3)
		doc.MaxManifestLifetime = bad
		if _, err := doc.Marshal(); !errors.Is(err, trust.ErrInvalidDocument) {
			t.Errorf("max_manifest_lifetime %v: %v", bad, err)
		}
	}
	doc := repo.RootDoc(3)
	b, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"max_manifest_lifetime": 604800,`)) {
		t.Errorf("payload:\n%s", b)
	}
	doc.MaxManifestLifetime = 0
	if b, _ := doc.Marshal(); bytes.Contains(b, []byte("max_manifest_lifetime")) {
		t.Errorf("a root without a limit writes the field:\n%s", b)
	}
}
