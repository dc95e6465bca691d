package client

import (
	"crypto/tls"
	"errors"
	"testing"

	"pinset.dev/pinset/enforce"
)

// A base with InsecureSkipVerify is refused loudly by the one guard
// (enforce.CheckBase), never cleared silently: New refuses it in Config.TLS,
// and a TLSConfig built from it fails its handshake with ErrInsecureBase
// even against the pinned backend.
func TestInsecureBaseRefusedLoudly(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.TLS.InsecureSkipVerify = true
	if _, err := New(cfg); !errors.Is(err, enforce.ErrInsecureBase) {
		t.Errorf("New with InsecureSkipVerify: %v, want ErrInsecureBase", err)
	}
	c := w.newClient(nil)
	base := &tls.Config{RootCAs: w.ca.Pool(), ServerName: "127.0.0.1", InsecureSkipVerify: true}
	conn, err := tls.Dial("tcp", w.backend.Srv.Listener.Addr().String(), c.TLSConfig(base))
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, enforce.ErrInsecureBase) {
		t.Fatalf("TLSConfig from an InsecureSkipVerify base: %v, want ErrInsecureBase", err)
	}
}
