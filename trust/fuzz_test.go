package trust_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// seedVectors adds every section of the test vectors as a seed.
func seedVectors(f *testing.F, each func(section)) {
	files, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		v, err := parseVector(file, b)
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range v.sections {
			each(s)
		}
	}
}

// FuzzParseEnvelope: the envelope decoder never panics, and what it
// accepts re-encodes to an envelope that decodes to the same thing.
func FuzzParseEnvelope(f *testing.F) {
	seedVectors(f, func(s section) { f.Add(s.data) })
	f.Add([]byte(`{"payloadType":"a","payload":"","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"a","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := trust.ParseEnvelope(b)
		if err != nil {
			return
		}
		// encoding/json must agree that it is JSON.
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		out, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := trust.ParseEnvelope(out)
		if err != nil {
			t.Fatalf("re-encoded envelope refused: %v", err)
		}
		if again.PayloadType != env.PayloadType || !bytes.Equal(again.Payload, env.Payload) || len(again.Signatures) != len(env.Signatures) {
			t.Fatal("round trip changed the envelope")
		}
	})
}

// FuzzDecodeManifest: the manifest decoder never panics; an accepted
// manifest re-encodes to a payload that decodes to an equal manifest.
func FuzzDecodeManifest(f *testing.F) {
	seedVectors(f, func(s section) {
		if env, err := trust.ParseEnvelope(s.data); err == nil && env.PayloadType == trust.PayloadTypeManifest {
			f.Add(env.Payload)
		}
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := trust.DecodeManifest(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		m2, err := trust.DecodeManifest(out)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		if m2.Version != m.Version || m2.AppID != m.AppID || len(m2.Hosts) != len(m.Hosts) || !m2.Expires.Equal(m.Expires) {
			t.Fatal("round trip changed the manifest")
		}
	})
}

// FuzzDecodeRoot: the same for roots.
func FuzzDecodeRoot(f *testing.F) {
	seedVectors(f, func(s section) {
		if env, err := trust.ParseEnvelope(s.data); err == nil && env.PayloadType == trust.PayloadTypeRoot {
			f.Add(env.Payload)
		}
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := trust.DecodeRoot(b)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted root does not re-encode: %v", err)
		}
		if _, err := trust.DecodeRoot(out); err != nil {
			t.Fatalf("re-encoded root refused: %v", err)
		}
	})
}

// FuzzUpdateManifest drives the whole verifier with arbitrary bytes: it
// never panics and never accepts anything but the genuine manifest.
func FuzzUpdateManifest(f *testing.F) {
	repo := trusttest.New(app, 77)
	st, err := trust.NewState(repo.Root(), repo.Manifest())
	if err != nil {
		f.Fatal(err)
	}
	good := repo.PublishManifest(nil)
	f.Add(good)
	f.Add(repo.Manifests[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		next, err := st.UpdateManifest(b, repo.Now)
		if err != nil {
			if next != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		env, _ := trust.ParseEnvelope(b)
		genuine, _ := trust.ParseEnvelope(good)
		first, _ := trust.ParseEnvelope(repo.Manifests[0])
		if !bytes.Equal(env.Payload, genuine.Payload) && !bytes.Equal(env.Payload, first.Payload) {
			t.Fatalf("accepted a payload nobody signed: %q", env.Payload)
		}
	})
}
