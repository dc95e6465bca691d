package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
)

var adminAddrRE = regexp.MustCompile(`msg="serving the admin API and console" addr=(\S+)`)

// TestServeAdminListen runs `pinset serve` with admin_listen over TLS with
// client certificates: the admin API, the monitor's admin endpoints and
// the console answer there, to a client with a certificate from the
// admin CA, and not on the public listener (404, token or not).
func TestServeAdminListen(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	token := newTokenCLI(t, data)
	serverCA := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(serverCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	adminCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "admin CA"}))
	operator := pki.Must(adminCA.NewLeaf(pki.Template{Hosts: []string{"operator"}, ClientAuth: true}))
	cfg := "admin_listen: 127.0.0.1:0\n" +
		"admin_tls_cert: " + writeFile(t, dir, "admin.crt", leaf.CertPEM()) + "\n" +
		"admin_tls_key: " + writeFile(t, dir, "admin.key", leaf.KeyPEM()) + "\n" +
		"admin_client_ca: " + writeFile(t, dir, "admin-ca.pem", adminCA.CertPEM()) + "\n"
	if err := os.Chmod(filepath.Join(dir, "admin.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--data", data, "--config", writeFile(t, dir, "pinset.yaml", []byte(cfg)))
	m := adminAddrRE.FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("no admin listener in the logs:\n%s", p.logs.String())
	}
	adm := "https://" + m[1]
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool(), Certificates: certs}}}
	}
	get := func(c *http.Client, url string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	op := client(operator.TLSCertificate())
	for _, c := range []struct {
		c    *http.Client
		url  string
		want int
	}{
		{http.DefaultClient, p.url + "/v1/admin/apps", 404},
		{http.DefaultClient, p.url + "/v1/admin/monitor/alerts", 404},
		{http.DefaultClient, p.url + "/console/signin", 404},
		{http.DefaultClient, p.url + "/healthz", 200},
		{op, adm + "/v1/admin/apps", 200},
		{op, adm + "/v1/admin/monitor/alerts", 200},
		{op, adm + "/console/signin", 200},
	} {
		resp, err := get(c.c, c.url)
		if err != nil || resp.StatusCode != c.want {
			t.Errorf("%s: %v %v, want %d", c.url, resp, err, c.want)
			continue
		}
		if c.want == 200 && c.url == adm+"/console/signin" && resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("console sign-in without its headers")
		}
	}
	if resp, err := get(client(), adm+"/console/signin"); err == nil {
		t.Errorf("admin listener without a client certificate: %d, want a failed handshake", resp.StatusCode)
	}
}
