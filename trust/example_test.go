package trust_test

import (
	"errors"
	"fmt"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// A client starts from the root and manifest it ships, accepts a newer
// manifest, and keeps its pins when a replayed old one is refused.
func ExampleState() {
	repo := trusttest.New("com.example.app", 1) // stands for the pin service
	bundledRoot, bundledManifest := repo.Root(), repo.Manifest()

	st, err := trust.NewState(bundledRoot, bundledManifest)
	if err != nil {
		panic(err)
	}
	fetched := repo.PublishManifest(nil) // version 2, signed by 2 of 3 pins keys
	if next, err := st.UpdateManifest(fetched, repo.Now); err == nil {
		st = next
	}
	fmt.Println("manifest version", st.Manifest().Version)

	_, err = st.UpdateManifest(bundledManifest, repo.Now)
	fmt.Println(errors.Is(err, trust.ErrRollback), err)
	p, _ := st.Policies().Match("api.example.com")
	fmt.Println(p.Pattern, len(p.Pins), "pins")
	// Output:
	// manifest version 2
	// true rollback: manifest version 1 is lower than the trusted version 2
	// api.example.com 2 pins
}
