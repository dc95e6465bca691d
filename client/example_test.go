package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"pinset.dev/pinset/client"
)

// An app bundles its root and manifest (for instance with go:embed, or the
// file `pinset export go` writes), refreshes them from the pin service in
// the background, and makes every HTTPS request through the pinned client.
func Example() {
	rootJSON, _ := os.ReadFile("root.json") // //go:embed root.json in a real app
	pinsJSON, _ := os.ReadFile("pins.json")

	c, err := client.New(client.Config{
		BundledRoot:     rootJSON,
		BundledManifest: pinsJSON,
		ServiceURL:      "https://pins.example.com",
		Store:           client.NewDirStore(os.ExpandEnv("$HOME/.cache/myapp/pinset")),
		RefreshInterval: time.Hour,
		Logger:          slog.Default(),
		OnEvent: func(e client.Event) {
			if e.Kind == client.EventPinFailure || e.Kind == client.EventStale {
				fmt.Fprintln(os.Stderr, e) // or count it in the app's metrics
			}
		},
	})
	if err != nil {
		log.Fatal(err) // the bundled documents do not verify: a build mistake
	}
	defer c.Close()
	c.Start()

	hc := c.HTTPClient() // pins enforced on every connection
	resp, err := hc.Get("https://api.example.com/v1/status")
	if err != nil {
		log.Print(err) // errors.Is(err, enforce.ErrPinMismatch) on a pin failure
		return
	}
	resp.Body.Close()

	// For gRPC and custom dialers:
	_ = c.TLSConfig(nil)
	// On demand (for instance when the app comes to the foreground):
	_ = c.Refresh(context.Background())
}
