// Command gofloor is the floor of the service benchmark (bench/service.sh):
// the least a Go net/http server over crypto/tls can do to serve one
// document, with the same http.Server settings as `pinset serve` (its
// timeouts and header limit) and the same response headers, but no
// routing, no document cache, no metrics and no logging. The difference
// between pinset and gofloor is what pinset's own code costs per request;
// the difference between gofloor and nginx is Go's HTTP and TLS stack.
//
//	go run ./bench/gofloor -listen 127.0.0.1:18447 -cert tls.crt -key tls.key -file pins.json
//
// With -reports FILE it is instead the floor of report ingestion: every
// POST body (at most report.MaxSize) is appended to FILE, and answered 201
// only after an fsync that covers it; the bodies waiting meanwhile share
// one write and one fsync (group commit, as pinset's store does, with the
// same batch bound). Nothing is parsed, deduplicated or counted.
//
//	go run ./bench/gofloor -listen 127.0.0.1:18448 -cert tls.crt -key tls.key -reports floor.log
package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"pinset.dev/pinset/report"
	"pinset.dev/pinset/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18447", "address")
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM private key")
	file := flag.String("file", "", "the document to serve")
	reports := flag.String("reports", "", "append report bodies to this file instead of serving -file")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	h := http.Handler(nil)
	if *reports != "" {
		h, err = appendHandler(*reports)
	} else {
		h, err = documentHandler(*file)
	}
	if err != nil {
		log.Fatal(err)
	}
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

// documentHandler answers every request with the document, as pinset
// serves a manifest.
func documentHandler(file string) (http.Handler, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, err
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}), nil
}

// appendHandler appends POST bodies to file with group commit.
func appendHandler(file string) (http.Handler, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	type req struct {
		body []byte
		done chan error
	}
	queue := make(chan req, 4*maxBatch)
	go func() {
		var buf []byte
		for first := range queue {
			batch := []req{first}
		drain:
			for len(batch) < maxBatch {
				select {
				case q := <-queue:
					batch = append(batch, q)
				default:
					break drain
				}
			}
			buf = buf[:0]
			for _, q := range batch {
				buf = append(buf, q.body...)
				buf = append(buf, '\n')
			}
			_, err := f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			for _, q := range batch {
				q.done <- err
			}
		}
	}()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, report.MaxSize))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		done := make(chan error, 1)
		queue <- req{body, done}
		if err := <-done; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"stored":true}`))
	}), nil
}

// maxBatch is the store's bound on the reports of one transaction.
const maxBatch = 256
