package enforce_test

import (
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// A pinned HTTP client: api.example.com must present a chain that verifies
// against the system roots and contains one of two keys.
func Example() {
	set, err := policy.NewSet([]policy.Policy{{
		Pattern: "api.example.com",
		Pins: []pin.Pin{
			pin.MustParse("sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="), // key in use
			pin.MustParse("sha256/YPtS4r4hr4MfSUH6bQwAuvqvbJNHHxKGzdrP6Ynh+i8="), // backup, held back
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	e := enforce.New(enforce.Static(set), enforce.Options{
		OnFailure: func(f *enforce.Failure) { log.Printf("pinset: %v", f) },
	})
	client := &http.Client{Transport: &http.Transport{
		DialTLSContext: e.DialTLSContext(&tls.Config{}, &net.Dialer{}),
	}}
	resp, err := client.Get("https://api.example.com/")
	var f *enforce.Failure
	if errors.As(err, &f) {
		log.Fatalf("interception? %s presented %v", f.Host, f.VerifiedPins())
	}
	_ = resp
}
