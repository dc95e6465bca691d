// Package redistest starts a real redis-server on loopback for tests, with
// no persistence, its own directory, and a password, stopped when the test
// ends. The test is skipped locally, and fails in CI, without redis-server
// (internal/testtool).
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/internal/testtool"
)

// Server is one running redis-server.
type Server struct {
	Addr     string // 127.0.0.1:port
	Password string
}

// Start runs redis-server on 127.0.0.1 at a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testtool.Need(t, "redis-server", "apt-get install -y redis-server")
	dir := t.TempDir()
	port := pebbletest.FreePort(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: "pinset-test-" + strconv.Itoa(port)}
	conf := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nsave \"\"\nappendonly no\nrequirepass %s\nlogfile %s\n",
		port, dir, s.Password, filepath.Join(dir, "redis.log"))
	cf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, cf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Logf("redis.log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
