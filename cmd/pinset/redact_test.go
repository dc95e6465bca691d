package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/trust/trusttest"
)

// Credentials and query strings in URLs never reach the output: a pin
// service URL with a password (which the service is unreachable at, so the
// refresh fails and is reported) and a target URL with a password and a
// query token print neither, on stdout or stderr, with or without --json.
func TestGetRedactsURLCredentials(t *testing.T) {
	repo := ct.NewRepo(t, "com.example.redact", "redact")
	m := repo.Sign(1, time.Now().UTC().Add(-time.Hour), 24*time.Hour, ct.Pol("127.0.0.1", trusttest.Pin("a"), trusttest.Pin("b")))
	dir := t.TempDir()
	for name, b := range map[string][]byte{"root.json": repo.RootBytes(1), "pins.json": m} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, pins := filepath.Join(dir, "root.json"), filepath.Join(dir, "pins.json")
	for _, args := range [][]string{
		{"get", "https://127.0.0.1:1/", "--root", root, "--pins-url", "http://user:SECRET@127.0.0.1:1/", "--timeout", "5s"},
		{"get", "https://127.0.0.1:1/", "--root", root, "--manifest", pins, "--pins-url", "http://user:SECRET@127.0.0.1:1/base?key=SECRET", "--timeout", "5s"},
		{"get", "https://user:SECRET@127.0.0.1:1/x?token=SECRET", "--root", root, "--manifest", pins, "--pins-url", "http://user:SECRET@127.0.0.1:1/", "--timeout", "5s", "--json"},
		{"get", "https://user:SECRET@127.0.0.1:1/x?token=SECRET", "--root", root, "--manifest", pins, "--timeout", "5s"},
		{"get", "https://127.0.0.1:1/", "--root", root, "--manifest", pins, "--pins-url", "ftp://user:SECRET@127.0.0.1:1/"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if strings.Contains(stdout+stderr, "SECRET") {
			t.Errorf("%v: SECRET printed:\nstdout: %s\nstderr: %s", args, stdout, stderr)
		}
		if !strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("%v: the message no longer names the address:\n%s", args, stderr)
		}
	}
}

// pinset publish prints no credentials or query tokens of --server: not
// when the URL is refused, not when the service is unreachable, not when
// it answers something that is not JSON.
func TestPublishRedactsURLCredentials(t *testing.T) {
	repo := ct.NewRepo(t, "com.example.redact", "redact-publish")
	file := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(file, repo.RootBytes(1), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>proxy login</html>", http.StatusProxyAuthRequired)
	}))
	defer notJSON.Close()
	for _, server := range []string{
		"ftp://user:SECRET@127.0.0.1:1/",
		"http://user:SECRET@127.0.0.1:1/?key=SECRET",
		strings.Replace(notJSON.URL, "http://", "http://user:SECRET@", 1) + "/?key=SECRET",
	} {
		code, stdout, stderr := runCLI(t, "publish", "--server", server, "--token", "tok", "--timeout", "5s", file)
		if code == 0 {
			t.Errorf("%s: exit 0", server)
		}
		if strings.Contains(stdout+stderr, "SECRET") || !strings.Contains(stderr, "127.0.0.1") {
			t.Errorf("%s:\nstdout: %s\nstderr: %s", server, stdout, stderr)
		}
	}
}
