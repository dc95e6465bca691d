package pebbletest

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS server over TCP on loopback for Pebble's validation: every
// A question is answered 127.0.0.1, AAAA with no address, TXT with the
// values set by SetTXT or found in TXTDir.
type DNS struct {
	Addr string
	// TXTDir, when set, is read for TXT answers: the file named like the
	// record (without a trailing dot) holds one value per line. DNS-01
	// hook scripts of tests write there.
	TXTDir string

	mu  sync.Mutex
	txt map[string][]string
}

func startDNS(t testing.TB) *DNS {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DNS{Addr: ln.Addr().String(), txt: map[string][]string{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.serve(c)
		}
	}()
	return d
}

// SetTXTDir sets TXTDir.
func (d *DNS) SetTXTDir(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.TXTDir = dir
}

// SetTXT sets the TXT values of name.
func (d *DNS) SetTXT(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[strings.TrimSuffix(strings.ToLower(name), ".")] = values
}

func (d *DNS) lookupTXT(name string) []string {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	d.mu.Lock()
	v := d.txt[name]
	dir := d.TXTDir
	d.mu.Unlock()
	if v == nil && dir != "" && !strings.ContainsAny(name, `/\`) {
		if b, err := readFile(dir + "/" + name); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" {
					v = append(v, l)
				}
			}
		}
	}
	return v
}

func (d *DNS) serve(c net.Conn) {
	defer c.Close()
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		out, err := d.answer(buf)
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(l[:], uint16(len(out)))
		if _, err := c.Write(append(l[:], out...)); err != nil {
			return
		}
	}
}

func (d *DNS) answer(q []byte) ([]byte, error) {
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil {
		return nil, err
	}
	m.Header.Response, m.Header.Authoritative, m.Header.RecursionAvailable = true, true, true
	m.Answers = nil
	for _, qu := range m.Questions {
		h := dnsmessage.ResourceHeader{Name: qu.Name, Class: dnsmessage.ClassINET, TTL: 0}
		switch qu.Type {
		case dnsmessage.TypeA:
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}})
		case dnsmessage.TypeTXT:
			for _, v := range d.lookupTXT(qu.Name.String()) {
				m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.TXTResource{TXT: []string{v}}})
			}
		}
	}
	return m.Pack()
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
