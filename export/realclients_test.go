package export

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// The real-client tests give what `pinset export okhttp` and `pinset export
// curl` print to the real clients (OkHttp 3.13.1 on the JVM, Debian's
// libokhttp-java; curl) and connect them to TLS servers on loopback:
//
//   - genuine: the chain of the pinned hierarchy;
//   - rogue: a chain from another CA that the client ALSO trusts (a
//     mis-issuing public CA, or a CA installed on the device), so that only
//     pinning can refuse it; an unpinned control host proves it is trusted;
//   - cve: the rogue chain with the genuine, pinned leaf certificate appended
//     (CVE-2016-2402: clients that pinned the served chain accepted it).
//
// Every host name resolves to 127.0.0.1 (OkHttp: a custom Dns; curl:
// --resolve); the clients trust the two test roots only.

// realWorld is the PKI and servers the real-client tests share.
type realWorld struct {
	genuine, rogue         *pki.Hierarchy
	cas                    string // PEM file of both roots
	genuineURL, rogueURL   string // https://127.0.0.1:port
	cveURL                 string
	policies               []policy.Policy
	dir                    string
	genuinePort, roguePort string
	cvePort                string
}

// Names the leaves are valid for; the policies pin some of them.
var realNames = []string{
	"api.example.com",
	"one.example.com", "a.one.example.com", "a.b.one.example.com",
	"deep.example.com", "a.deep.example.com", "a.b.deep.example.com",
	"free.example.org", "127.0.0.1",
}

func newRealWorld(t *testing.T) *realWorld {
	t.Helper()
	w := &realWorld{dir: t.TempDir()}
	hierarchy := func(name string) *pki.Hierarchy {
		root := pki.Must(pki.NewRoot(pki.Template{CommonName: name + " root"}))
		inter := pki.Must(root.NewIntermediate(pki.Template{CommonName: name + " issuing CA"}))
		leaf := pki.Must(inter.NewLeaf(pki.Template{Hosts: realNames}))
		return &pki.Hierarchy{Root: root, Intermediate: inter, Leaf: leaf}
	}
	w.genuine, w.rogue = hierarchy("pinset genuine"), hierarchy("pinset rogue")
	w.cas = filepath.Join(w.dir, "cas.pem")
	if err := os.WriteFile(w.cas, append(w.genuine.Root.CertPEM(), w.rogue.Root.CertPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func(cert tls.Certificate) (string, string) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, "ok\n") }))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
		srv.StartTLS()
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return srv.URL, u.Port()
	}
	w.genuineURL, w.genuinePort = serve(w.genuine.Leaf.TLSCertificate())
	w.rogueURL, w.roguePort = serve(w.rogue.Leaf.TLSCertificate())
	w.cveURL, w.cvePort = serve(w.rogue.Leaf.TLSCertificate(w.genuine.Leaf.Cert, w.genuine.Intermediate.Cert))
	pins := []pin.Pin{w.genuine.Leaf.Pin(), w.genuine.Intermediate.Pin()}
	w.policies = []policy.Policy{
		{Pattern: "api.example.com", Pins: pins},
		{Pattern: "*.one.example.com", Pins: pins},
		{Pattern: "**.deep.example.com", Pins: pins},
		{Pattern: "127.0.0.1", Pins: pins},
	}
	return w
}

func (w *realWorld) port(server string) string {
	return map[string]string{"genuine": w.genuinePort, "rogue": w.roguePort, "cve": w.cvePort}[server]
}

// realCase is one connection and what the client must do.
type realCase struct {
	host, server string // server: genuine, rogue or cve
	accept       bool
	why          string
}

// realMatrix is what docs/export.md promises for OkHttp (--okhttp-version 3
// on OkHttp 3.13.1) and curl (the line for the host's policy).
func realMatrix() []realCase {
	return []realCase{
		{"api.example.com", "genuine", true, "pinned exact host, genuine chain"},
		{"api.example.com", "rogue", false, "pinned exact host, chain from another trusted CA"},
		{"api.example.com", "cve", false, "CVE-2016-2402: the pinned leaf appended to a rogue chain"},
		{"free.example.org", "rogue", true, "control: no policy, so the rogue CA is trusted"},
		{"a.one.example.com", "genuine", true, "*.one.example.com: one label below"},
		{"a.one.example.com", "rogue", false, "*.one.example.com: one label below"},
		{"one.example.com", "rogue", true, "*.one.example.com does not cover one.example.com itself"},
		{"a.b.one.example.com", "rogue", true, "*.one.example.com does not cover two labels below"},
		{"deep.example.com", "genuine", true, "**.deep.example.com covers its base"},
		{"deep.example.com", "rogue", false, "**.deep.example.com covers its base"},
		{"a.deep.example.com", "rogue", false, "**.deep.example.com: one label below"},
		{"a.deep.example.com", "cve", false, "**.deep.example.com: one label below"},
		{"127.0.0.1", "genuine", true, "IP literal"},
		{"127.0.0.1", "rogue", false, "IP literal"},
	}
}

// TestOkHttpJVM runs the matrix with OkHttp 3.13.1 on the JVM, loading the
// pins exactly as `pinset export okhttp --okhttp-version 3` prints them; and
// shows that the default (version 4) output, with "**.", pins nothing for
// those names on OkHttp 3.13.1.
func TestOkHttpJVM(t *testing.T) {
	jvm := testtool.NeedOkHttpJVM(t)
	javac, java, cp := jvm.Javac, jvm.Java, jvm.Classpath
	w := newRealWorld(t)
	classes := filepath.Join(w.dir, "classes")
	if out, err := exec.Command(javac, "-d", classes, "-cp", cp, filepath.Join("testdata", "okhttp", "PinsetOkHttpCheck.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	run := func(version int, cases []realCase) map[string]string {
		t.Helper()
		// For version 3 an IPv6 literal too: OkHttp 3.x throws at start-up
		// (HttpUrl: "Invalid URL port") unless it is written in brackets, so
		// loading it proves the 3.x spelling.
		pols := w.policies
		if version == OkHttp3 {
			pols = append(pols, policy.Policy{Pattern: "2001:db8::1", Pins: w.policies[0].Pins})
		}
		res, err := Export("okhttp", Input{OkHttpVersion: version, Policies: pols})
		if err != nil {
			t.Fatal(err)
		}
		kt := filepath.Join(w.dir, fmt.Sprintf("pins%d.kt", version))
		if err := os.WriteFile(kt, res.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-cp", classes + string(os.PathListSeparator) + cp, "PinsetOkHttpCheck", kt, w.cas}
		for i, c := range cases {
			args = append(args, fmt.Sprintf("%d=https://%s/", i, hostPort(c.host, w.port(c.server))))
		}
		out, err := exec.Command(java, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("java: %v\n%s\n--- pins\n%s", err, out, res.Data)
		}
		got := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if f := strings.SplitN(sc.Text(), " ", 2); len(f) == 2 {
				got[f[0]] = f[1]
			}
		}
		if !strings.HasPrefix(string(out), "loaded ") {
			t.Fatalf("java output:\n%s", out)
		}
		return got
	}

	cases := append(realMatrix(), realCase{"a.b.deep.example.com", "rogue", true,
		"--okhttp-version 3: **.deep.example.com is written as deep.example.com and *.deep.example.com; two labels below is NOT pinned (subdomain-depth warning)"})
	got := run(OkHttp3, cases)
	for i, c := range cases {
		checkReal(t, "OkHttp 3.13.1, --okhttp-version 3", c, got[fmt.Sprint(i)], okhttpPinFailure)
	}

	// The bug: OkHttp 3.13.1 reads "**.deep.example.com" as a literal host
	// name, so the default output pins nothing for deep.example.com there.
	bug := []realCase{
		{"deep.example.com", "rogue", true, "--okhttp-version 4 output on OkHttp 3.13.1: **. ignored, NOT pinned"},
		{"a.deep.example.com", "rogue", true, "--okhttp-version 4 output on OkHttp 3.13.1: **. ignored, NOT pinned"},
		{"api.example.com", "rogue", false, "exact hosts are pinned either way"},
	}
	got = run(OkHttp4, bug)
	for i, c := range bug {
		checkReal(t, "OkHttp 3.13.1, --okhttp-version 4", c, got[fmt.Sprint(i)], okhttpPinFailure)
	}
}

// TestCurlPinnedPubKey runs the matrix with curl --pinnedpubkey, giving each
// host the line `pinset export curl` prints for the policy pinset applies to
// it (none for unpinned hosts).
func TestCurlPinnedPubKey(t *testing.T) {
	curl := testtool.Need(t, "curl", "apt-get install -y curl")
	w := newRealWorld(t)
	res, err := Export("curl", Input{Policies: w.policies})
	if err != nil {
		t.Fatal(err)
	}
	lines := curlLines(t, res.Data)
	set, err := policy.NewSet(w.policies)
	if err != nil {
		t.Fatal(err)
	}
	cases := append(realMatrix(), realCase{"a.b.deep.example.com", "rogue", false, "**.deep.example.com: the line is for every name below"})
	for _, c := range cases {
		args := []string{"--silent", "--show-error", "--max-time", "10", "--cacert", w.cas, "--noproxy", "*"}
		if pol, ok := set.Match(c.host); ok {
			pat, _ := policy.ParsePattern(pol.Pattern, pol.IncludeSubdomains)
			line, ok := lines[pat.String()]
			if !ok {
				t.Fatalf("no curl line for %s in:\n%s", pol.Pattern, res.Data)
			}
			args = append(args, "--pinnedpubkey", line)
		}
		port := w.port(c.server)
		target := "https://" + hostPort(c.host, port) + "/"
		if !strings.Contains(c.host, ":") && !regexp.MustCompile(`^[0-9.]+$`).MatchString(c.host) {
			args = append(args, "--resolve", c.host+":"+port+":127.0.0.1")
		}
		out, err := exec.Command(curl, append(args, target)...).CombinedOutput()
		result := "OK"
		if err != nil {
			result = "FAIL " + strings.TrimSpace(string(out))
		}
		checkReal(t, "curl", c, result, curlPinFailure)
	}
}

// curlLines maps "pattern" (pinset's spelling: exact, *.x, **.x) to the
// --pinnedpubkey value the export wrote for it.
func curlLines(t *testing.T, data []byte) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^# (.+)\n--pinnedpubkey '([^']+)'$`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		f := strings.Fields(m[1])
		switch {
		case f[0] == "every": // every host one label below X
			out["*."+f[len(f)-1]] = m[2]
		case len(f) > 1: // X and every name below it
			out["**."+f[0]] = m[2]
		default:
			out[f[0]] = m[2]
		}
	}
	return out
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// What each client says when pinning (not chain verification) refuses.
const (
	okhttpPinFailure = "javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!"
	curlPinFailure   = "curl: (90) SSL: public key does not match pinned public key"
)

// checkReal compares a client's result with a case; a refusal must be the
// client's pinning failure, so that a chain the client does not trust at
// all cannot pass for a pinning refusal.
func checkReal(t *testing.T, client string, c realCase, got, pinFailure string) {
	t.Helper()
	if !c.accept && got != "" && !strings.HasPrefix(got, "OK") && !strings.Contains(got, pinFailure) {
		t.Errorf("%s: %s on the %s server: refused, but not by pinning (want %q): %s", client, c.host, c.server, pinFailure, got)
	}
	accepted := strings.HasPrefix(got, "OK")
	if got == "" || accepted != c.accept {
		want := map[bool]string{true: "accepted", false: "refused"}[c.accept]
		t.Errorf("%s: %s on the %s server: want %s (%s), got %q", client, c.host, c.server, want, c.why, got)
	}
	if !accepted && c.server == "genuine" {
		t.Errorf("%s: %s: the genuine chain was refused: %s", client, c.host, got)
	}
}
