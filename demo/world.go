package demo

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// The names of the demo.
const (
	appID = "dev.pinset.demo"
	host  = "api.demo.test"
)

// world is everything one run builds: keys, documents, servers, clients.
type world struct {
	out     io.Writer
	now     func() time.Time
	rand    io.Reader
	dir     string
	fault   string
	details []string

	// Step 1.
	rootKeys [3]*trust.Signer
	pinsKey  *trust.Signer
	root     []byte

	// Step 2.
	demoCA, inspectionCA *pki.CA
	roots                *x509.CertPool // the CAs the client trusts
	backendKeys          []crypto.Signer
	backendCert          atomic.Pointer[tls.Certificate]
	backendKey           atomic.Int32 // which key the backend serves (1-based)
	backend              *loopbackServer
	port                 int                 // the backend's port: the port of https://api.demo.test:PORT/
	resolve              map[string][]string // curl-style override for probes and the gate
	net                  *network

	// Step 3.
	manifests   map[string][]byte
	store       store.Store
	serviceURL  string
	serviceAddr string
	serviceStop context.CancelFunc
	serviceDone chan error
	gate        check.Options // the publish gate's options
	token       string

	// Steps 4 to 8.
	client      *client.Client
	httpClient  *http.Client
	interceptor *loopbackServer
	interceptPk pin.Pin
	others      []*client.Client
	hostile     *loopbackServer

	eventsMu sync.Mutex
	events   []client.Event
}

func newWorld(cfg Config, dir string) *world {
	return &world{out: cfg.Out, now: cfg.Now, rand: cfg.Rand, dir: dir, fault: cfg.fault, manifests: map[string][]byte{}}
}

// close stops everything still running. It may be called more than once.
func (d *world) close() {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
	for _, c := range d.others {
		c.Close()
	}
	d.others = nil
	d.stopService()
	for _, s := range []**loopbackServer{&d.backend, &d.interceptor, &d.hostile} {
		if *s != nil {
			(*s).close()
			*s = nil
		}
	}
}

// Narration.

func (d *world) intro() {
	fmt.Fprintf(d.out, `pinset demo: dynamic public-key pinning from keys to a client's handshake,
with real TLS servers, a real pin service and a real client, all on 127.0.0.1.
Work directory: %s

`, d.dir)
}

func (d *world) heading(n int, title, intro string) {
	fmt.Fprintf(d.out, "Step %d. %s\n", n, title)
	for _, l := range strings.Split(strings.TrimSpace(intro), "\n") {
		fmt.Fprintf(d.out, "  %s\n", strings.TrimSpace(l))
	}
}

// say narrates an observation and keeps it in the step's details.
func (d *world) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.details = append(d.details, line)
	fmt.Fprintf(d.out, "  - %s\n", line)
}

func (d *world) verdict(s Step) {
	v := "as expected"
	if !s.OK {
		v = "NOT AS EXPECTED"
	}
	fmt.Fprintf(d.out, "  => expected: %s\n     observed: %s (%s)\n\n", s.Expected, s.Observed, v)
}

// short abbreviates a pin for narration: "sha256/AbCdEfGh...".
func short(p pin.Pin) string {
	s := p.Format(pin.OkHttp)
	if len(s) > 19 {
		return s[:19] + "..."
	}
	return s
}

// Files.

// write writes a file of the work directory; private keys get mode 0600.
func (d *world) write(name string, data []byte, perm os.FileMode) error {
	p := filepath.Join(d.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // the umask must not widen a key
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSigner writes NAME.key (0600) and NAME.pub, as `pinset key new` does.
func (d *world) writeSigner(name string, s *trust.Signer) error {
	priv, err := s.MarshalPrivateKeyPEM(nil)
	if err != nil {
		return err
	}
	if err := d.write(name+".key", priv, 0o600); err != nil {
		return err
	}
	return d.write(name+".pub", s.Key.MarshalPublicKeyPEM(), 0o644)
}

// writeTLSKey writes a TLS private key (0600) and its public key.
func (d *world) writeTLSKey(name string, k crypto.Signer) error {
	if err := d.write(name+".key", pki.KeyPEM(k), 0o600); err != nil {
		return err
	}
	pub, err := pki.PublicKeyPEM(k.Public())
	if err != nil {
		return err
	}
	return d.write(name+".pub", pub, 0o644)
}

// The demo's network.

// network routes api.demo.test:PORT to a loopback listener: the backend,
// or the interceptor while the network is hostile. It refuses every other
// address, so the demo's client never reaches anything else.
type network struct {
	name  string // "api.demo.test:PORT"
	route atomic.Pointer[string]
}

func (n *network) set(addr string) { n.route.Store(&addr) }

func (n *network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != n.name {
		return nil, fmt.Errorf("demo network: no route to %s (only %s exists here)", addr, n.name)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, *n.route.Load())
}

// loopbackServer is an HTTP(S) server on 127.0.0.1 with a kernel-chosen
// port.
type loopbackServer struct {
	srv  *http.Server
	ln   net.Listener
	addr string
	port int
	done chan struct{}
}

// listen starts h on addr ("127.0.0.1:0" for any port), over TLS when
// tlsConfig is set.
func listen(addr string, h http.Handler, tlsConfig *tls.Config) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &loopbackServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog},
		ln:   ln,
		addr: ln.Addr().String(),
		port: ln.Addr().(*net.TCPAddr).Port,
		done: make(chan struct{}),
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *loopbackServer) close() {
	s.srv.Close()
	<-s.done
}

// discardLog silences the demo servers' own error logs (a refused
// handshake is the point of step 5, not an error).
var discardLog = log.New(io.Discard, "", 0)

// The pin service.

func (d *world) stopService() {
	if d.serviceStop == nil {
		return
	}
	d.serviceStop()
	<-d.serviceDone
	d.serviceStop = nil
	if d.store != nil {
		d.store.Close()
		d.store = nil
	}
}

// adminAnswer is the service's answer to an admin request.
type adminAnswer struct {
	Status int
	Body   []byte
	// Error is the service's "error" field, when it refused.
	Error string
}

// String renders the answer for narration: "HTTP 201 Created" or the
// status and the service's reason.
func (a *adminAnswer) String() string {
	s := fmt.Sprintf("HTTP %d %s", a.Status, http.StatusText(a.Status))
	if a.Error != "" {
		s += ": " + a.Error
	}
	return s
}

// admin sends an admin request with the demo's token, as `pinset publish`
// does.
func (d *world) admin(ctx context.Context, method, path string, body []byte) (*adminAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.serviceURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := plainHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	a := &adminAnswer{Status: resp.StatusCode, Body: b}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		a.Error = e.Error
	}
	return a, nil
}

// publish uploads a root ("root") or a manifest ("pins").
func (d *world) publish(ctx context.Context, kind string, body []byte) (*adminAnswer, error) {
	return d.admin(ctx, http.MethodPut, "/v1/admin/apps/"+appID+"/"+kind, body)
}

// get fetches a public path of the pin service.
func (d *world) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.serviceURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := plainHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := trust.ReadEnvelope(resp.Body)
	return resp.StatusCode, b, err
}

// plainHTTP talks to the pin service on loopback over plain HTTP, which
// `pinset serve` allows there because every document is signed.
var plainHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

// The client.

// newClient builds an SDK client bundled with root v1 and manifest v1,
// caching in client-cache/, with the demo CAs as its roots.
func (d *world) newClient(serviceURL string) (*client.Client, error) {
	return client.New(client.Config{
		BundledRoot:      d.root,
		BundledManifest:  d.manifests["pins-v1.json"],
		ServiceURL:       serviceURL,
		Store:            client.NewDirStore(filepath.Join(d.dir, "client-cache")),
		TLS:              &tls.Config{RootCAs: d.roots, MinVersion: tls.VersionTLS12},
		AppVersion:       "1.0-demo",
		FetchTimeout:     10 * time.Second,
		HTTPClient:       plainHTTP,
		ReportHTTPClient: plainHTTP,
		OnEvent:          d.onEvent,
		Now:              d.now,
		Rand:             d.rand,
	})
}

func (d *world) onEvent(e client.Event) {
	d.eventsMu.Lock()
	d.events = append(d.events, e)
	d.eventsMu.Unlock()
}

func (d *world) eventCount() int {
	d.eventsMu.Lock()
	defer d.eventsMu.Unlock()
	return len(d.events)
}

// sayEvents narrates the clients' events (Config.OnEvent) since the first
// n: what an app would log or count.
func (d *world) sayEvents(n int) {
	d.eventsMu.Lock()
	evs := append([]client.Event(nil), d.events[n:]...)
	d.eventsMu.Unlock()
	for _, e := range evs {
		line := e.String()
		if len(line) > 160 {
			line = line[:157] + "..."
		}
		d.say("client event: %s", line)
	}
}

// httpFor returns an http.Client that uses c's TLS configuration (the
// SDK's pins in VerifyConnection, the demo CAs as roots) and dials through
// the demo's network. Keep-alives are off so that every call is a new
// handshake, checked against the pins in force at that moment.
func (d *world) httpFor(c *client.Client) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       d.net.DialContext,
			TLSClientConfig:   c.TLSConfig(nil),
			DisableKeepAlives: true,
		},
	}
}

// call GETs https://api.demo.test:PORT/ and returns the body's first line.
func (d *world) call(ctx context.Context, hc *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.apiURL(), nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line, nil
}

func (d *world) apiURL() string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(d.port)) + "/"
}
