package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/nginxtest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

const host = "api.pinset.test"

// nginx is a real nginx on loopback (internal/nginxtest), serving host on
// two addresses (127.0.0.1 and 127.0.0.2) with the certificate and key in
// the test's directory.
type nginx struct {
	*nginxtest.Server
	cert, key string
}

func startNginx(t *testing.T, chainPEM, keyPEM []byte) *nginx {
	t.Helper()
	dir := t.TempDir()
	n := &nginx{cert: filepath.Join(dir, "chain.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(n.cert, chainPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	n.Server = nginxtest.Start(t, host, n.cert, n.key)
	return n
}

func (n *nginx) target(roots *pki.CA) Target {
	return Target{
		Host: host, Port: n.Port,
		CertFile: n.cert, KeyFile: n.key,
		Reload:  n.Reload(),
		RootCAs: roots.Pool(),
		Resolve: n.Resolve(),
		Settle:  10 * time.Second, Interval: 100 * time.Millisecond,
	}
}

// served returns the leaf pin each address serves now.
func (n *nginx) served(t *testing.T, tg Target) []pin.Pin {
	t.Helper()
	return n.Served(t, check.Options{RootCAs: tg.RootCAs, Resolve: tg.Resolve})
}

type keyset struct {
	ca    *pki.CA
	leafs []*pki.Leaf
	pins  []pin.Pin
}

func makeKeys(t *testing.T, n int) keyset {
	t.Helper()
	root := pki.Must(pki.NewRoot(pki.Template{}))
	inter := pki.Must(root.NewIntermediate(pki.Template{}))
	ks := keyset{ca: root}
	for i := range n {
		k := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand(fmt.Sprint("deploy key ", i))))
		l := pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{host}, Key: k}))
		ks.leafs = append(ks.leafs, l)
		ks.pins = append(ks.pins, l.Pin())
	}
	return ks
}

func allServe(t *testing.T, got []pin.Pin, want pin.Pin, what string) {
	t.Helper()
	if len(got) != 2 {
		t.Fatalf("%s: %d addresses answered, want 2", what, len(got))
	}
	for _, p := range got {
		if p != want {
			t.Fatalf("%s: an address serves %s, want %s", what, p, want)
		}
	}
}

// TestDeployNginx: key 2 replaces key 1 on both addresses of a real
// nginx; the files are 0600 and no temporary file is left behind.
func TestDeployNginx(t *testing.T) {
	ks := makeKeys(t, 2)
	n := startNginx(t, ks.leafs[0].ChainPEM(), ks.leafs[0].KeyPEM())
	tg := n.target(ks.ca)
	allServe(t, n.served(t, tg), ks.pins[0], "before")

	res, err := Deploy(context.Background(), tg, ks.leafs[1].ChainPEM(), ks.leafs[1].KeyPEM(), ks.pins[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Addresses) != 2 || res.Pin != ks.pins[1] {
		t.Fatalf("result %+v", res)
	}
	allServe(t, n.served(t, tg), ks.pins[1], "after deploy")
	for _, f := range []string{n.cert, n.key} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, fi)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(n.cert))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestDeployWrongKeyRefusedBeforeWriting is the forced fault: the deploy
// is handed a certificate and key for key 3 where key 2 was expected. It is
// refused before anything is written or reloaded, so no client ever meets
// key 3; nginx keeps serving key 1. (A server that loads other files than
// those written is caught by verification and rolled back:
// server.TestRotationEndToEndNginxPebble, TestDeployReloadFailureRollsBack.)
func TestDeployWrongKeyRefusedBeforeWriting(t *testing.T) {
	ks := makeKeys(t, 3)
	n := startNginx(t, ks.leafs[0].ChainPEM(), ks.leafs[0].KeyPEM())
	tg := n.target(ks.ca)
	tg.Settle = 2 * time.Second

	_, err := Deploy(context.Background(), tg, ks.leafs[2].ChainPEM(), ks.leafs[2].KeyPEM(), ks.pins[1])
	var we *WrongKeyError
	if !errors.As(err, &we) || we.Want != ks.pins[1] || we.Got != ks.pins[2] {
		t.Fatalf("Deploy = %v, want a WrongKeyError", err)
	}
	t.Log(err)
	allServe(t, n.served(t, tg), ks.pins[0], "after the refusal")
	if b, _ := os.ReadFile(n.cert); string(b) != string(ks.leafs[0].ChainPEM()) {
		t.Fatal("the chain file was touched")
	}
}

// TestDeployPairMismatchWritesNothing: a certificate for another key than
// the key file is refused before anything is written.
func TestDeployPairMismatchWritesNothing(t *testing.T) {
	ks := makeKeys(t, 3)
	dir := t.TempDir()
	tg := Target{Host: host, Port: 1, CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem"), Reload: []string{"false"}}
	_, err := Deploy(context.Background(), tg, ks.leafs[2].ChainPEM(), ks.leafs[1].KeyPEM(), ks.pins[1])
	var pe *PairError
	if !errors.As(err, &pe) || pe.Cert != ks.pins[2] || pe.Key != ks.pins[1] {
		t.Fatalf("Deploy = %v", err)
	}
	if _, err := os.Stat(tg.CertFile); err == nil {
		t.Fatal("a file was written")
	}
}

// TestDeployReloadFailureRollsBack: a reload command that fails after the
// files are written puts the previous files back (and reloads with them).
func TestDeployReloadFailureRollsBack(t *testing.T) {
	ks := makeKeys(t, 2)
	n := startNginx(t, ks.leafs[0].ChainPEM(), ks.leafs[0].KeyPEM())
	tg := n.target(ks.ca)
	marker := filepath.Join(t.TempDir(), "reloaded")
	// Fails the first time (the deploy), reloads nginx the second (the rollback).
	script := fmt.Sprintf(`if [ ! -e %s ]; then touch %s; echo config test failed; exit 1; fi; exec "$@"`, marker, marker)
	tg.Reload = append([]string{"sh", "-c", script, "reload"}, tg.Reload...)
	_, err := Deploy(context.Background(), tg, ks.leafs[1].ChainPEM(), ks.leafs[1].KeyPEM(), ks.pins[1])
	var re *ReloadError
	if !errors.As(err, &re) || !re.RolledBack || !strings.Contains(re.Output, "config test failed") {
		t.Fatalf("Deploy = %v", err)
	}
	if b, _ := os.ReadFile(n.key); string(b) != string(ks.leafs[0].KeyPEM()) {
		t.Fatal("previous key not restored")
	}
	allServe(t, n.served(t, tg), ks.pins[0], "after failed reload")
}
