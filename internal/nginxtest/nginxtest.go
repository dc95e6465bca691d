// Package nginxtest starts a real nginx on loopback for tests: one TLS
// server on 127.0.0.1 and 127.0.0.2 (one port) that serves the files it is
// given, with its own prefix, pid file and logs, stopped when the test
// ends. The test is skipped locally, and fails in CI, without nginx
// (internal/testtool).
package nginxtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
)

// Server is one running nginx.
type Server struct {
	Bin, Prefix, Conf string
	Host              string // its server_name
	Port              int
}

// Start runs nginx serving certFile and keyFile for host on 127.0.0.1 and
// 127.0.0.2 at a free port.
func Start(t testing.TB, host, certFile, keyFile string) *Server {
	t.Helper()
	return start(t, host, certFile, keyFile, `return 200 "ok\n";`)
}

// StartStatic is Start serving the files under root (a static origin:
// ETags, no directory listings).
func StartStatic(t testing.TB, host, certFile, keyFile, root string) *Server {
	t.Helper()
	return start(t, host, certFile, keyFile, fmt.Sprintf("root %s;\n    etag on;\n    default_type application/json;", root))
}

func start(t testing.TB, host, certFile, keyFile, content string) *Server {
	t.Helper()
	bin := testtool.Need(t, "nginx", "apt-get install -y nginx")
	dir := t.TempDir()
	n := &Server{Bin: bin, Prefix: dir, Conf: filepath.Join(dir, "nginx.conf"), Host: host, Port: pebbletest.FreePort(t)}
	for _, d := range []string{"tmp", "logs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  server {
    listen 127.0.0.1:%[2]d ssl;
    listen 127.0.0.2:%[2]d ssl;
    server_name %[3]s;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    %[6]s
  }
}
`, dir, n.Port, host, certFile, keyFile, content)
	if err := os.WriteFile(n.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, n.Args()...).CombinedOutput(); err != nil {
		t.Fatalf("starting nginx: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command(bin, append(n.Args(), "-s", "stop")...).Run()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	return n
}

// Args are the arguments that name this instance (prefix, configuration,
// error log).
func (n *Server) Args() []string {
	return []string{"-p", n.Prefix, "-c", n.Conf, "-e", filepath.Join(n.Prefix, "logs", "error.log")}
}

// Reload is the command that makes this nginx load its files again.
func (n *Server) Reload() []string {
	return append(append([]string{n.Bin}, n.Args()...), "-s", "reload")
}

// Resolve routes the host to both loopback addresses, for check.Options.
func (n *Server) Resolve() map[string][]string {
	return map[string][]string{fmt.Sprintf("%s:%d", n.Host, n.Port): {"127.0.0.1", "127.0.0.2"}}
}

// Served returns the leaf pin each address serves now (opts carries the
// roots; its Resolve defaults to n.Resolve()).
func (n *Server) Served(t testing.TB, opts check.Options) []pin.Pin {
	t.Helper()
	if opts.Resolve == nil {
		opts.Resolve = n.Resolve()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	rep, err := check.Run(context.Background(), nil, []check.Target{{Host: n.Host, Port: n.Port}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []pin.Pin
	for _, a := range rep.Hosts[0].Addresses {
		if len(a.Chain) == 0 {
			t.Fatalf("%s: %s", a.Address, a.Reason)
		}
		out = append(out, a.Chain[0].Pin)
	}
	return out
}
