// Command servicedocs writes a signed root and manifest for the service
// benchmark (bench/service.sh): app "bench", 50 hosts, issued now, signed
// 2-of-3 like a real deployment.
//
//	go run ./bench/servicedocs -o DIR
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"
	"time"

	"pinset.dev/pinset/trust/trusttest"
)

func main() {
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	repo := trusttest.New("bench", 1)
	repo.Now = time.Now().UTC().Truncate(time.Second)
	root := repo.PublishRoot() // v2, issued now
	repo.Hosts = append(repo.Hosts, trusttest.Hosts(48)...)
	pins := repo.PublishManifest(nil)
	for name, b := range map[string][]byte{"root.json": root, "pins.json": pins} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
