package edge

import (
	"net/http"
	"testing"
	"time"
)

// FuzzVerifyUpstream: no Pinset-Edge-Auth value makes VerifyUpstream panic
// or accept a request the key did not sign.
func FuzzVerifyUpstream(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	signIdentity(h, testIdentityKey, now, "dev", "alice", "GET", "/v1/a")
	f.Add(h.Get(HeaderAuth), "dev", "alice")
	f.Add("v1 t=1800000000 mac=", "", "")
	f.Add("v1 t=-1 mac=AAAA", "d", "u")
	f.Add("v2 t=1800000000 mac=x y", "d", "u")
	f.Fuzz(func(t *testing.T, auth, dev, user string) {
		r, _ := http.NewRequest("GET", "http://up/v1/a", nil)
		r.Header.Set(HeaderAuth, auth)
		r.Header.Set(HeaderDevice, dev)
		r.Header.Set(HeaderUser, user)
		id, err := VerifyUpstream(r, testIdentityKey, now, time.Minute)
		if err == nil && identityMAC(testIdentityKey, id.Time.Unix(), r.Header.Get(HeaderDevice), r.Header.Get(HeaderUser), "GET", "/v1/a") != auth[len(auth)-43:] {
			t.Fatalf("accepted %q", auth)
		}
	})
}

// FuzzLoad: no configuration file makes Load panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8443\nroutes:\n  - name: a\n    path: /\n    upstreams: [http://127.0.0.1:1]\n"))
	f.Add([]byte("rate_limits:\n  address: {requests: 1, per: 1m}\n"))
	f.Add([]byte("unknown: [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name := t.TempDir() + "/edge.yaml"
		writeFile(t, name, b, 0o644)
		Load(name)
	})
}
