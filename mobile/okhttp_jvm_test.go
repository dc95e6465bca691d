package mobile

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/export"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// okhttpPinFailure is what OkHttp says when its CertificatePinner refuses.
const okhttpPinFailure = "javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!"

// TestPinsetOkHttpJVM runs PinsetOkHttp (mobile/android, its pure-Java
// part) on OkHttp 3.13.1 (Debian's libokhttp-java) on the JVM, fed with what
// `pinset export okhttp --json --okhttp-version 3` prints for signed
// manifests, against TLS servers on loopback:
//
//   - genuine: the pinned leaf; rogue: a chain from another CA the client
//     also trusts, which only pinning can refuse; cve: the rogue chain with
//     the genuine leaf appended (CVE-2016-2402); rotated: a new leaf key
//     under the genuine CA, pinned by manifest v2 only;
//   - after the SDK's "updated" event for v2, PinsetOkHttp rebuilds the
//     client, which accepts the rotated key; the same event again does not
//     rebuild;
//   - the OkHttp 4 pins ("**.") are refused on OkHttp 3.13.1, which would
//     read them as literal host names and pin nothing.
//
// It also checks that the CLI's JSON and Client.OkHttpPinsJSON agree for the
// same manifest (one renderer).
func TestPinsetOkHttpJVM(t *testing.T) {
	jvm := testtool.NeedOkHttpJVM(t)
	javac, java, cp := jvm.Javac, jvm.Java, jvm.Classpath
	goTool := testtool.Need(t, "go", "install Go")
	dir := t.TempDir()

	// Compile the pure-Java part of the Android integration and the driver.
	classes := filepath.Join(dir, "classes")
	src := filepath.Join("android", "src", "main", "java", "dev", "pinset", "mobile")
	if out, err := exec.Command(javac, "-Xlint:all", "-Werror", "-d", classes, "-cp", cp,
		filepath.Join(src, "Json.java"), filepath.Join(src, "PinsetOkHttp.java"),
		filepath.Join("testdata", "okhttp", "PinsetOkHttpRun.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	// PinsetTrustManager needs android.jar to build for real; type-check it
	// against the documented signatures of X509TrustManagerExtensions (a
	// stub that never runs) so that a slip in it shows here.
	if out, err := exec.Command(javac, "-Xlint:all", "-Werror", "-d", filepath.Join(dir, "android-classes"),
		filepath.Join("testdata", "androidstub", "android", "net", "http", "X509TrustManagerExtensions.java"),
		filepath.Join(src, "PinsetTrustManager.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac PinsetTrustManager (with the X509TrustManagerExtensions stub): %v\n%s", err, out)
	}
	pinset := filepath.Join(dir, "pinset")
	if out, err := exec.Command(goTool, "build", "-o", pinset, "pinset.dev/pinset/cmd/pinset").CombinedOutput(); err != nil {
		t.Fatalf("go build pinset: %v\n%s", err, out)
	}

	// Two CAs the client trusts; the genuine one issues the live leaf and,
	// later, the rotated one.
	names := []string{"api.example.com", "deep.example.com", "a.deep.example.com", "free.example.org", "127.0.0.1"}
	hier := func(seed string) *pki.Hierarchy {
		root := pki.Must(pki.NewRoot(pki.Template{CommonName: seed + " root", Rand: pki.NewDeterministicRand(seed + "-root")}))
		inter := pki.Must(root.NewIntermediate(pki.Template{CommonName: seed + " issuing CA", Rand: pki.NewDeterministicRand(seed + "-inter")}))
		leaf := pki.Must(inter.NewLeaf(pki.Template{Hosts: names, Rand: pki.NewDeterministicRand(seed + "-leaf")}))
		return &pki.Hierarchy{Root: root, Intermediate: inter, Leaf: leaf}
	}
	genuine, rogue := hier("jvm genuine"), hier("jvm rogue")
	rotated := pki.Must(genuine.Intermediate.NewLeaf(pki.Template{Hosts: names, Rand: pki.NewDeterministicRand("jvm rotated")}))
	backup, _ := pin.FromPublicKey(pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("jvm backup"))).Public())
	cas := filepath.Join(dir, "cas.pem")
	writeFile(t, cas, append(genuine.Root.CertPEM(), rogue.Root.CertPEM()...))
	ports := map[string]string{
		"genuine": serveTLS(t, genuine.Leaf.TLSCertificate()),
		"rogue":   serveTLS(t, rogue.Leaf.TLSCertificate()),
		"cve":     serveTLS(t, rogue.Leaf.TLSCertificate(genuine.Leaf.Cert, genuine.Intermediate.Cert)),
		"rotated": serveTLS(t, rotated.TLSCertificate()),
	}

	// Manifest v1 pins the live leaf and a held-back key; v2 the rotated
	// leaf and the live one.
	pols := func(a, b pin.Pin) []policy.Policy {
		return []policy.Policy{ct.Pol("api.example.com", a, b), ct.Pol("**.deep.example.com", a, b), ct.Pol("127.0.0.1", a, b)}
	}
	repo := ct.NewRepo(t, "com.example.jvm", "jvm")
	now := time.Now().UTC().Truncate(time.Second)
	m1 := repo.Sign(1, now.Add(-time.Hour), 30*24*time.Hour, pols(genuine.Leaf.Pin(), backup)...)
	m2 := repo.Sign(2, now.Add(-time.Minute), 30*24*time.Hour, pols(rotated.Pin(), genuine.Leaf.Pin())...)
	rootFile := filepath.Join(dir, "root.json")
	writeFile(t, rootFile, repo.RootBytes(1))
	exportJSON := func(m []byte, version int, name string) string {
		t.Helper()
		mf := filepath.Join(dir, name+".manifest.json")
		writeFile(t, mf, m)
		out := filepath.Join(dir, name+".okhttp.json")
		cmd := exec.Command(pinset, "export", "okhttp", "--json", "--okhttp-version", fmt.Sprint(version), "--manifest", mf, "--root", rootFile, "-o", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
		}
		return out
	}
	v1, v2, v1four := exportJSON(m1, 3, "v1"), exportJSON(m2, 3, "v2"), exportJSON(m1, 4, "v1-okhttp4")

	// One renderer: the SDK gives the same entries, versions and warnings
	// for the pins in force as the CLI for the manifest.
	cfg := NewConfig()
	cfg.BundledRoot, cfg.BundledManifest = repo.RootBytes(1), m1
	c, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fromSDK, err := c.OkHttpPinsJSON(3)
	if err != nil {
		t.Fatal(err)
	}
	var sdk, cli export.OkHttpPins
	if err := json.Unmarshal([]byte(fromSDK), &sdk); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(v1)
	if err := json.Unmarshal(b, &cli); err != nil {
		t.Fatal(err)
	}
	sdk.Output, cli.Output = "", "" // the header names the source
	if !reflect.DeepEqual(sdk, cli) || cli.ManifestVersion != 1 || len(cli.Pins) != 4 {
		t.Fatalf("SDK and CLI differ:\nSDK %+v\nCLI %+v", sdk, cli)
	}

	u := func(label, host, server string) string {
		return fmt.Sprintf("%s=https://%s/", label, hostPortString(host, ports[server]))
	}
	type check struct {
		label, host, server string
		accept              bool
		why                 string
	}
	before := []check{
		{"g1", "api.example.com", "genuine", true, "pinned live leaf"},
		{"r1", "api.example.com", "rogue", false, "another trusted CA"},
		{"c1", "api.example.com", "cve", false, "CVE-2016-2402: pinned leaf appended to a rogue chain"},
		{"d1", "a.deep.example.com", "rogue", false, "**.deep.example.com written as *.deep.example.com for OkHttp 3"},
		{"f1", "free.example.org", "rogue", true, "control: no policy, the rogue CA is trusted"},
		{"i1", "127.0.0.1", "rogue", false, "IP literal"},
		{"o1", "api.example.com", "rotated", false, "v1 does not pin the rotated key"},
	}
	after := []check{
		{"o2", "api.example.com", "rotated", true, "v2 pins the rotated key, after the rebuild"},
		{"g2", "api.example.com", "genuine", true, "v2 keeps the live key"},
		{"r2", "api.example.com", "rogue", false, "another trusted CA"},
		{"c2", "deep.example.com", "cve", false, "CVE-2016-2402"},
	}
	args := []string{"-cp", classes + string(os.PathListSeparator) + cp, "PinsetOkHttpRun", cas, "pins=" + v1}
	for _, k := range before {
		args = append(args, u(k.label, k.host, k.server))
	}
	args = append(args, "pins="+v2, "updated=2")
	for _, k := range after {
		args = append(args, u(k.label, k.host, k.server))
	}
	args = append(args, "updated=2", "try="+v1four)
	out, err := exec.Command(java, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("java: %v\n%s", err, out)
	}
	var lines []string
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if f := strings.SplitN(sc.Text(), " ", 2); len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	t.Logf("java output:\n%s", out)
	if got["loaded"] != "4 entries v1" {
		t.Errorf("first load: %q", got["loaded"])
	}
	var rebuilds []string
	for _, l := range lines {
		if strings.HasPrefix(l, "rebuilt ") {
			rebuilds = append(rebuilds, l)
		}
	}
	if !reflect.DeepEqual(rebuilds, []string{"rebuilt true v2", "rebuilt false v2"}) {
		t.Errorf("rebuilds %v, want one for v2, none for the same version again", rebuilds)
	}
	for _, k := range append(before, after...) {
		res := got[k.label]
		accepted := strings.HasPrefix(res, "OK")
		if res == "" || accepted != k.accept {
			t.Errorf("%s: %s on the %s server: accepted %v, want %v (%s): %q", k.label, k.host, k.server, accepted, k.accept, k.why, res)
		}
		if !k.accept && !strings.Contains(res, okhttpPinFailure) {
			t.Errorf("%s: refused, but not by pinning: %q", k.label, res)
		}
	}
	if r := got["try"]; !strings.HasPrefix(r, "REFUSED java.lang.IllegalStateException") || !strings.Contains(r, "3.13.1") {
		t.Errorf("OkHttp 4 pins on OkHttp 3.13.1: %q, want refused naming the version", r)
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveTLS starts an HTTPS server on 127.0.0.1 and returns its port.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pu, _ := url.Parse(srv.URL)
	return pu.Port()
}

func hostPortString(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
