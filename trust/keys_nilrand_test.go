package trust

import "testing"

func TestGenerateKeyNilRandUsesCryptoRand(t *testing.T) {
	for _, alg := range []Algorithm{ECDSAP256SHA256, Ed25519} {
		a, err := GenerateKey(alg, nil)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		b, err := GenerateKey(alg, nil)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if a.Key.ID == b.Key.ID {
			t.Errorf("%s: two keys from crypto/rand share key id %s", alg, a.Key.ID)
		}
	}
}
