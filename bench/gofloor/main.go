// Command gofloor is the floor of the service benchmark (bench/service.sh):
// the least a Go net/http server over crypto/tls can do to serve one
// document, with the same http.Server settings as `pinset serve` (its
// timeouts and header limit) and the same response headers, but no
// routing, no document cache, no metrics and no logging. The difference
// between pinset and gofloor is what pinset's own code costs per request;
// the difference between gofloor and nginx is Go's HTTP and TLS stack.
//
//	go run ./bench/gofloor -listen 127.0.0.1:18447 -cert tls.crt -key tls.key -file pins.json
package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"pinset.dev/pinset/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18447", "address")
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM private key")
	file := flag.String("file", "", "the document to serve")
	flag.Parse()
	body, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	var (
		hETag    = []string{etag}
		hCache   = []string{"public, max-age=60, stale-if-error=86400"}
		hVary    = []string{"Accept-Encoding"}
		hJSON    = []string{"application/json"}
		hNosniff = []string{"nosniff"}
		hLen     = []string{strconv.Itoa(len(body))}
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Cache-Control"] = hCache
		hd["Vary"] = hVary
		hd["Etag"] = hETag
		if inm := r.Header["If-None-Match"]; len(inm) == 1 && strings.TrimPrefix(inm[0], "W/") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		hd["Content-Type"] = hJSON
		hd["X-Content-Type-Options"] = hNosniff
		hd["Content-Length"] = hLen
		w.Write(body)
	})
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: server.ReadHeaderTimeout,
		ReadTimeout:       server.ReadTimeout,
		WriteTimeout:      server.WriteTimeout,
		IdleTimeout:       server.IdleTimeout,
		MaxHeaderBytes:    server.MaxHeaderBytes,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(hs.Serve(tls.NewListener(ln, tc)))
}
