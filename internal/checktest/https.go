package checktest

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// HTTPSFleet is a Fleet that answers HTTP: n servers for one host on
// 127.0.0.2 .. 127.0.0.(n+1), one port, each with its own certificate,
// answering every request with "ok". Keep-alive and session tickets are
// off, so every request is a full handshake with the certificate of the
// moment: what clients of a node being redeployed see.
type HTTPSFleet struct {
	Host  string
	Port  int
	Addrs []string
	certs []atomic.Pointer[tls.Certificate]
}

// NewHTTPSFleet starts n servers presenting cert; they stop when the test
// ends.
func NewHTTPSFleet(t testing.TB, host string, n int, cert tls.Certificate) *HTTPSFleet {
	t.Helper()
	ips := make([]string, n)
	for i := range ips {
		ips[i] = "127.0.0." + strconv.Itoa(FirstAddr+i)
	}
	var f *Fleet
	var err error
	for try := 0; try < 50; try++ {
		if f, err = listen(host, ips); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	h := &HTTPSFleet{Host: host, Port: f.Port, Addrs: ips, certs: make([]atomic.Pointer[tls.Certificate], n)}
	for i, ln := range f.lns {
		h.certs[i].Store(&cert)
		srv := &http.Server{
			Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
			ErrorLog: log.New(io.Discard, "", 0),
			TLSConfig: &tls.Config{SessionTicketsDisabled: true, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return h.certs[i].Load(), nil
			}},
		}
		srv.SetKeepAlivesEnabled(false)
		go srv.ServeTLS(ln, "", "")
		t.Cleanup(func() { srv.Close() })
	}
	return h
}

// SetCert makes address i present c from its next handshake on.
func (h *HTTPSFleet) SetCert(i int, c tls.Certificate) { h.certs[i].Store(&c) }

// Address returns "ip:port" of address i.
func (h *HTTPSFleet) Address(i int) string {
	return net.JoinHostPort(h.Addrs[i], strconv.Itoa(h.Port))
}

// Resolve returns the curl-style override map "host:port" -> addresses.
func (h *HTTPSFleet) Resolve() map[string][]string {
	return map[string][]string{net.JoinHostPort(h.Host, strconv.Itoa(h.Port)): append([]string(nil), h.Addrs...)}
}
