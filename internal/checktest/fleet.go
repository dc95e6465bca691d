// Package checktest stands up several loopback TLS servers that play the
// addresses of one host (127.0.0.2, 127.0.0.3, ...), all on the same port,
// as the nodes behind a load balancer do. Linux routes all of 127.0.0.0/8
// to the loopback interface, so no network traffic leaves the machine.
//
// It is the fixture of the tests of check, monitor and `pinset check`.
package checktest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Fleet is a set of TLS listeners for one host name, one per address.
type Fleet struct {
	Host  string
	Port  int
	Addrs []string // IP addresses, in order

	certs []atomic.Pointer[tls.Certificate]
	lns   []net.Listener
	wg    sync.WaitGroup
}

// FirstAddr is the first address a fleet uses; the fleet of n servers
// takes 127.0.0.first .. 127.0.0.(first+n-1).
const FirstAddr = 2

// NewFleet starts n servers for host on 127.0.0.2 .. 127.0.0.(n+1), all
// on one free port, each presenting certs[i] (one certificate for all if
// len(certs) == 1). They are stopped when the test ends.
func NewFleet(t testing.TB, host string, certs ...tls.Certificate) *Fleet {
	t.Helper()
	n := len(certs)
	ips := make([]string, n)
	for i := range ips {
		ips[i] = "127.0.0." + strconv.Itoa(FirstAddr+i)
	}
	f, err := Start(host, ips, certs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// Start listens on every address in ips on one common free port (retrying
// with another port when one is taken) and serves certs[i] on ips[i].
func Start(host string, ips []string, certs []tls.Certificate) (*Fleet, error) {
	if len(certs) != len(ips) {
		return nil, fmt.Errorf("checktest: %d addresses but %d certificates", len(ips), len(certs))
	}
	var lastErr error
	for try := 0; try < 50; try++ {
		f, err := listen(host, ips)
		if err == nil {
			for i := range certs {
				f.certs[i].Store(&certs[i])
			}
			f.serve()
			return f, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("checktest: listening on %d loopback addresses: %w", len(ips), lastErr)
}

func listen(host string, ips []string) (*Fleet, error) {
	f := &Fleet{Host: host, Addrs: ips, certs: make([]atomic.Pointer[tls.Certificate], len(ips))}
	first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
	if err != nil {
		return nil, err
	}
	f.lns = append(f.lns, first)
	f.Port = first.Addr().(*net.TCPAddr).Port
	for _, ip := range ips[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(f.Port)))
		if err != nil {
			f.closeListeners()
			return nil, err
		}
		f.lns = append(f.lns, ln)
	}
	return f, nil
}

func (f *Fleet) serve() {
	for i, ln := range f.lns {
		cfg := &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return f.certs[i].Load(), nil
			},
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				f.wg.Add(1)
				go func() {
					defer f.wg.Done()
					tc := tls.Server(c, cfg)
					_ = tc.Handshake()
					_ = tc.Close()
				}()
			}
		}()
	}
}

// SetCert makes address i present c from its next handshake on: a
// rotation (or a bad deploy) on one node.
func (f *Fleet) SetCert(i int, c tls.Certificate) { f.certs[i].Store(&c) }

// Stop closes the listener of address i: the node goes down.
func (f *Fleet) Stop(i int) { _ = f.lns[i].Close() }

// Address returns "ip:port" of address i.
func (f *Fleet) Address(i int) string { return net.JoinHostPort(f.Addrs[i], strconv.Itoa(f.Port)) }

// Target returns "host:port".
func (f *Fleet) Target() string { return net.JoinHostPort(f.Host, strconv.Itoa(f.Port)) }

// Resolve returns the curl-style override map "host:port" -> addresses.
func (f *Fleet) Resolve() map[string][]string {
	return map[string][]string{f.Target(): append([]string(nil), f.Addrs...)}
}

// ResolveFlags returns the same as --resolve HOST:PORT:ADDR arguments.
func (f *Fleet) ResolveFlags() []string {
	var out []string
	for _, ip := range f.Addrs {
		out = append(out, "--resolve", f.Host+":"+strconv.Itoa(f.Port)+":"+ip)
	}
	return out
}

// Close stops every server and waits for their goroutines.
func (f *Fleet) Close() {
	f.closeListeners()
	f.wg.Wait()
}

func (f *Fleet) closeListeners() {
	for _, ln := range f.lns {
		_ = ln.Close()
	}
}
