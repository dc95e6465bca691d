package edge_test

import (
	"bytes"
	"net/http"
	"os"
	"time"

	"pinset.dev/pinset/edge"
)

// An upstream behind pinset edge trusts the device and user headers only
// when their MAC verifies under the shared identity key.
func ExampleVerifyUpstream() {
	b, _ := os.ReadFile("/etc/api/edge-identity.key") // the edge's identity.key_file
	key := bytes.TrimSpace(b)                         // as the edge reads it
	http.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		id, err := edge.VerifyUpstream(r, key, time.Now(), time.Minute)
		if err != nil {
			http.Error(w, "not from the edge", http.StatusUnauthorized)
			return
		}
		_ = id.User   // the access token's sub
		_ = id.Device // the device certificate's pin
	})
}
