//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pinset.dev/pinset/trust"
)

// openPTY opens a pseudo-terminal pair with the kernel's own interface
// (/dev/ptmx), the terminal a person types passphrases on.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// typist answers each prompt seen on the terminal with its line, once the
// terminal's echo is off, and keeps everything the terminal showed.
type typist struct {
	mu    sync.Mutex
	shown bytes.Buffer
}

func (ty *typist) run(t *testing.T, master, slave *os.File, answers map[string]string) {
	buf := make([]byte, 256)
	answered := map[string]bool{}
	for {
		n, err := master.Read(buf)
		ty.mu.Lock()
		ty.shown.Write(buf[:n])
		shown := ty.shown.String()
		ty.mu.Unlock()
		for prompt, line := range answers {
			if answered[prompt] || strings.Count(shown, prompt) == 0 {
				continue
			}
			answered[prompt] = true
			// Type only once echo is off, as ReadPassword sets it.
			for i := 0; i < 500; i++ {
				tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
				if err == nil && tio.Lflag&unix.ECHO == 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			master.WriteString(line + "\n")
		}
		if err != nil {
			return
		}
	}
}

func (ty *typist) String() string {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	return ty.shown.String()
}

// On a terminal, key new asks for the passphrase twice without echo and
// encrypts the key with it; sign asks for it to decrypt the key.
func TestPassphrasePromptOnTerminal(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "root-a")
	const secret = "tr0ub4dor&3-secret"

	master, slave := openPTY(t)
	ty := &typist{}
	go ty.run(t, master, slave, map[string]string{"Passphrase for": secret, "Repeat the passphrase": secret})
	var out bytes.Buffer
	code := runWith([]string{"key", "new", name}, slave, &out, slave)
	if code != 0 {
		t.Fatalf("key new: exit %d\n%s\n%s", code, out.String(), ty)
	}
	time.Sleep(50 * time.Millisecond)
	if shown := ty.String(); strings.Contains(shown, secret) || !strings.Contains(shown, "Repeat the passphrase") {
		t.Fatalf("the terminal showed %q", shown)
	}
	b, err := os.ReadFile(name + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Fatalf("key not encrypted:\n%s", b)
	}
	if _, err := trust.ParsePrivateKeyPEM(b, []byte(secret)); err != nil {
		t.Fatalf("the typed passphrase does not decrypt the key: %v", err)
	}

	// Differing passphrases write nothing.
	master2, slave2 := openPTY(t)
	go (&typist{}).run(t, master2, slave2, map[string]string{"Passphrase for": "one", "Repeat the passphrase": "two"})
	if code := runWith([]string{"key", "new", name + "-b"}, slave2, &out, slave2); code != 1 {
		t.Fatalf("differing passphrases: exit %d", code)
	}
	if _, err := os.Stat(name + "-b.key"); !os.IsNotExist(err) {
		t.Fatalf("a key was written: %v", err)
	}

	// sign asks for the passphrase of the encrypted key.
	if code, _, stderr := runCLI(t, "key", "new", filepath.Join(dir, "pins"), "--no-passphrase"); code != 0 {
		t.Fatal(stderr)
	}
	root := filepath.Join(dir, "root.json")
	if code, _, stderr := runCLI(t, "root", "new", "--app", "com.example.app", "--root-key", name+".pub", "--pins-key", filepath.Join(dir, "pins.pub"), "-o", root); code != 0 {
		t.Fatal(stderr)
	}
	master3, slave3 := openPTY(t)
	ty3 := &typist{}
	go ty3.run(t, master3, slave3, map[string]string{"Passphrase for": secret})
	if code := runWith([]string{"sign", "--key", name + ".key", root}, slave3, &out, slave3); code != 0 {
		t.Fatalf("sign: exit %d\n%s", code, ty3)
	}
	if strings.Contains(ty3.String(), secret) {
		t.Fatalf("the terminal showed the passphrase: %q", ty3)
	}
}
