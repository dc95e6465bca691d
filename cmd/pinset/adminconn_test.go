package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command that reaches the admin API checks --server through
// adminConn.open, and names the URL redacted (no user info, query or
// fragment) when it refuses it.
func TestAdminConnRedactsServer(t *testing.T) {
	const server = "ftp://admin:s3cret@pins.example.com/?key=q5ecret"
	for _, args := range [][]string{
		{"publish", "--server", server, "--token", "t", "pins.json"},
		{"rotate", "status", "--server", server, "--token", "t"},
		{"rotate", "abort", "--server", server, "--token", "t", "--id", "1"},
		{"device", "revoke", "--server", server, "--token", "t", "--app", "shop", "phone-1"},
	} {
		name := args[0]
		if !strings.HasPrefix(args[1], "-") {
			name += " " + args[1]
		}
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runWith(args, strings.NewReader(""), &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, errb.String())
			}
			msg := errb.String()
			if !strings.Contains(msg, "--server") || !strings.Contains(msg, "want an http:// or https:// URL") {
				t.Errorf("stderr %q does not refuse --server", msg)
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "q5ecret") {
				t.Errorf("stderr %q shows the URL's secrets", msg)
			}
		})
	}
}

// publish, rotate and device share one set of admin connection flags.
func TestAdminConnFlags(t *testing.T) {
	for _, path := range [][]string{{"publish"}, {"rotate", "status"}, {"rotate", "envelope"}, {"device", "token", "new"}, {"device", "revoke"}} {
		cmd, _, err := newRootCmd().Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"server", "token", "cafile", "client-cert", "client-key", "timeout"} {
			if cmd.Flags().Lookup(name) == nil {
				t.Errorf("%s has no --%s", cmd.CommandPath(), name)
			}
		}
	}
}

// rotate envelope never replaces an existing -o FILE without --force (it
// may be an envelope already signed with pinset sign), and says so before
// it makes any request: the server named here does not exist.
func TestRotateEnvelopeKeepsExistingFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "next.json")
	const signed = `{"signed": "already signed"}`
	if err := os.WriteFile(out, []byte(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, errb bytes.Buffer
	args := []string{"rotate", "envelope", "--server", "https://127.0.0.1:1", "--token", "t", "--id", "3", "-o", out}
	if code := runWith(args, strings.NewReader(""), &stdout, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errb.String())
	}
	if !strings.Contains(errb.String(), "already exists") || !strings.Contains(errb.String(), "--force") {
		t.Errorf("stderr %q does not refuse the existing file", errb.String())
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != signed {
		t.Errorf("the existing file changed: %q, %v", b, err)
	}
}
