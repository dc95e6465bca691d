package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/store/storetest"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// These tests run `pinset serve` as a real process (this test binary,
// re-executed as "pinset" by testscript.Main in script_test.go) and kill
// it with SIGKILL.

// pinsetBin finds the "pinset" testscript.Main put on PATH.
func pinsetBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("pinset")
	if err != nil {
		t.Fatalf("pinset helper binary not on PATH: %v", err)
	}
	return p
}

// serveProc is one running `pinset serve`.
type serveProc struct {
	cmd  *exec.Cmd
	url  string
	logs *lockedBuffer
}

// lockedBuffer is testtool.SyncBuffer.
type lockedBuffer = testtool.SyncBuffer

var addrRE = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startServe starts pinset serve on a free loopback port and waits until
// it answers /readyz.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(pinsetBin(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--publish-gate=false"}, args...)...)
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		pw.Close()
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if m := addrRE.FindStringSubmatch(line); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
		}
	}()
	select {
	case addr := <-addrc:
		p.url = "http://" + addr
	case <-time.After(20 * time.Second):
		t.Fatalf("pinset serve did not start: %s", logs.String())
	}
	for i := 0; ; i++ {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

func (p *serveProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// pinsetRun runs a pinset command as a process and returns stdout, stderr.
func pinsetRun(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(pinsetBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// freshRepo returns a signing repository whose newest root (v2) and
// manifests are issued now, since the server process reads the wall clock.
func freshRepo(t *testing.T, dir string) (*trusttest.Repo, string) {
	t.Helper()
	repo := trusttest.New("shop", 7)
	repo.Now = time.Now().UTC().Truncate(time.Second)
	root := repo.PublishRoot()
	f := filepath.Join(dir, "root.json")
	if err := os.WriteFile(f, root, 0o644); err != nil {
		t.Fatal(err)
	}
	return repo, f
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// serveShop starts pinset serve on a new data directory under dir with an
// admin token, and makes the shop app's signing repository and root file.
func serveShop(t *testing.T, dir string) (p *serveProc, data, tok string, repo *trusttest.Repo, rootFile string) {
	t.Helper()
	data = filepath.Join(dir, "data")
	tok = newTokenCLI(t, data)
	repo, rootFile = freshRepo(t, dir)
	return startServe(t, "--data", data), data, tok, repo, rootFile
}

func newTokenCLI(t *testing.T, data string) string {
	t.Helper()
	out, errOut, err := pinsetRun(t, nil, "token", "new", "--init", "--name", "ci", "--data", data)
	if err != nil {
		t.Fatalf("token new: %v %s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, store.TokenPrefix) {
		t.Fatalf("token new printed %q", out)
	}
	return tok
}

func TestServeAcknowledgedReportSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	p, data, tok, repo, rootFile := serveShop(t, dir)
	pinsFile := writeFile(t, dir, "pins.json", repo.PublishManifest(nil))
	if out, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", p.url, rootFile, pinsFile); err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "report", "testdata", "reports", "trustkit-android.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledge a run of distinct reports (other app versions), then kill
	// the server the moment the last answer arrives.
	var acked []string
	for i := range 10 {
		b := bytes.Replace(body, []byte(`"app-version": "4.2.0"`), []byte(fmt.Sprintf(`"app-version": "9.%d"`, i)), 1)
		resp, err := http.Post(p.url+"/v1/apps/shop/reports", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("report %d: %s", i, resp.Status)
		}
		acked = append(acked, fmt.Sprintf("9.%d", i))
	}
	p.kill9(t)

	p2 := startServe(t, "--data", data)
	req, _ := http.NewRequest("GET", p2.url+"/v1/admin/apps/shop/reports?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Reports []store.StoredReport }
	json.NewDecoder(resp.Body).Decode(&out)
	have := map[string]bool{}
	for _, r := range out.Reports {
		have[r.Report.AppVersion] = true
	}
	for _, v := range acked {
		if !have[v] {
			t.Errorf("acknowledged report (app version %s) lost after kill -9", v)
		}
	}
	// The token never reached the logs of either process.
	for _, l := range []string{p.logs.String(), p2.logs.String()} {
		if strings.Contains(l, strings.TrimPrefix(tok, store.TokenPrefix)) {
			t.Fatal("token in server logs")
		}
	}
}

// TestServePublishInterruptedByKill9 kills the server while manifests are
// being published, several times; after each restart the served manifest
// must be one that was uploaded, verify completely, and be no older than
// the last acknowledged upload.
func TestServePublishInterruptedByKill9(t *testing.T) {
	dir := t.TempDir()
	p, data, tok, repo, rootFile := serveShop(t, dir)
	first := writeFile(t, dir, "pins1.json", repo.PublishManifest(nil))
	if _, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", p.url, rootFile, first); err != nil {
		t.Fatalf("publish: %v %s", err, errOut)
	}
	uploaded := map[string]uint64{string(repo.Manifest()): repo.ManifestVersion}
	var lastAcked uint64 = repo.ManifestVersion
	client := &http.Client{Timeout: 5 * time.Second}
	for round := range 4 {
		// Upload manifests back to back; kill after a delay that lands in
		// the middle of an upload.
		stop := make(chan struct{})
		done := make(chan struct{})
		var mu sync.Mutex
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				m := repo.PublishManifest(nil)
				uploaded[string(m)] = repo.ManifestVersion
				v := repo.ManifestVersion
				mu.Unlock()
				req, _ := http.NewRequest("PUT", p.url+"/v1/admin/apps/shop/pins", bytes.NewReader(m))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					return // killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					lastAcked = v
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(150+round*70) * time.Millisecond)
		p.kill9(t)
		close(stop)
		<-done

		p = startServe(t, "--data", data)
		resp, err := http.Get(p.url + "/v1/apps/shop/pins.json")
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		v, ok := uploaded[string(served)]
		acked := lastAcked
		mu.Unlock()
		if resp.StatusCode != 200 || !ok {
			t.Fatalf("round %d: served %s %q: not one of the uploaded manifests", round, resp.Status, served)
		}
		if v < acked {
			t.Fatalf("round %d: served v%d, older than the acknowledged v%d", round, v, acked)
		}
		st, err := trust.NewState(repo.Root(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateManifest(served, time.Now()); err != nil {
			t.Fatalf("round %d: served manifest does not verify: %v", round, err)
		}
		t.Logf("round %d: served v%d (last acknowledged v%d, last uploaded v%d)", round, v, acked, repo.ManifestVersion)
		// The service continues from what it serves.
		repo.ManifestVersion = v
		lastAcked = v
	}
}

func TestPublishCLIRefusals(t *testing.T) {
	dir := t.TempDir()
	p, data, tok, repo, rootFile := serveShop(t, dir)
	m1 := writeFile(t, dir, "pins-v1.json", repo.PublishManifest(nil))
	m2 := writeFile(t, dir, "pins-v2.json", repo.PublishManifest(nil))
	env := []string{"PINSET_TOKEN=" + tok}
	// Files in any order: roots go first, manifests in version order.
	out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, m2, m1, rootFile)
	if err != nil {
		t.Fatalf("publish: %v %s", err, errOut)
	}
	if !strings.Contains(out, "shop root v2 published") || !strings.Contains(out, "shop manifest v3 published") {
		t.Errorf("publish output:\n%s", out)
	}
	other := trusttest.New("blog", 9)
	other.Now = repo.Now
	wrongApp := repo.PublishManifest(func(m *trust.Manifest) { m.AppID = "blog" })
	below := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[0])
	tamper := func(b []byte) []byte {
		var env map[string]any
		json.Unmarshal(b, &env)
		payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
		payload = bytes.Replace(payload, []byte("api.example.com"), []byte("api.examplf.com"), 1)
		env["payload"] = base64.StdEncoding.EncodeToString(payload)
		out, _ := json.Marshal(env)
		return out
	}
	cases := []struct {
		name, file, want string
	}{
		{"rollback", m1, "rollback"},
		{"wrong app", writeFile(t, dir, "wrong-app.json", wrongApp), "for another app"},
		{"below threshold", writeFile(t, dir, "below.json", below), "threshold not met: 1 of 2"},
		{"tampered", writeFile(t, dir, "tampered.json", tamper(repo.PublishManifest(nil))), "threshold not met: 0 of 2"},
		{"not a document", writeFile(t, dir, "garbage.json", []byte("hello")), "garbage.json"},
	}
	for _, c := range cases {
		_, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, "--app", "shop", c.file)
		if err == nil || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") > 2 {
			t.Errorf("%s: err %v, stderr %q (want %q)", c.name, err, errOut, c.want)
		}
	}
	// Without a valid token: refused, and the CLI says so.
	_, errOut, err = pinsetRun(t, []string{"PINSET_TOKEN=pinset_nope"}, "publish", "--server", p.url, m2)
	if err == nil || !strings.Contains(errOut, "invalid or revoked token") {
		t.Errorf("bad token: %v %q", err, errOut)
	}
	_, errOut, err = pinsetRun(t, []string{"PINSET_TOKEN="}, "publish", "--server", p.url, m2)
	if err == nil || !strings.Contains(errOut, "no token") {
		t.Errorf("no token: %v %q", err, errOut)
	}
	if strings.Contains(p.logs.String(), strings.TrimPrefix(tok, store.TokenPrefix)) {
		t.Fatal("token in server logs")
	}
	// token list and revoke.
	out, _, _ = pinsetRun(t, nil, "token", "list", "--json", "--data", data)
	if !strings.Contains(out, `"name": "ci"`) || strings.Contains(out, tok) {
		t.Errorf("token list: %s", out)
	}
	if _, errOut, err := pinsetRun(t, nil, "token", "revoke", "ci", "--data", data); err != nil {
		t.Fatal(errOut)
	}
	_, errOut, err = pinsetRun(t, env, "publish", "--server", p.url, m2)
	if err == nil || !strings.Contains(errOut, "invalid or revoked token") {
		t.Errorf("revoked token: %v %q", err, errOut)
	}
}

func TestServeConfigStrict(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "pinset.yaml", []byte("listen: 127.0.0.1:0\nlisten_addr: x\n"))
	var errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"serve", "--config", cfg})
	root.SetErr(&errb)
	root.SetContext(context.Background())
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "listen_addr") || !strings.Contains(err.Error(), `line 2: unknown key "listen_addr"`) {
		t.Fatalf("unknown key: %v", err)
	}
	cfg = writeFile(t, dir, "pinset.json", []byte(`{"listen": "127.0.0.1:0", "report_rate": "fast"}`))
	if code := run([]string{"serve", "--config", cfg}); code == 0 {
		t.Fatal("bad type accepted")
	}
	cfg = writeFile(t, dir, "gate.yaml", []byte("publish_gate:\n  enabled: true\n  timeout: 3x\n"))
	if code := run([]string{"serve", "--config", cfg}); code == 0 {
		t.Fatal("bad duration accepted")
	}
	cfg = writeFile(t, dir, "reports.yaml", []byte("reports:\n  max_rows: 10\n  retention: 3x\n"))
	if code := run([]string{"serve", "--config", cfg}); code == 0 {
		t.Fatal("bad reports.retention accepted")
	}
	cfg = writeFile(t, dir, "reports2.yaml", []byte("reports:\n  max_row: 10\n"))
	if code := run([]string{"serve", "--config", cfg}); code == 0 {
		t.Fatal("unknown reports key accepted")
	}
}

// TestServeTwoProcessesPostgres runs two `pinset serve` processes on one
// PostgreSQL database: what is published through one is served by both.
func TestServeTwoProcessesPostgres(t *testing.T) {
	u := storetest.PostgresURL(t)
	dir := t.TempDir()
	out, errOut, err := pinsetRun(t, nil, "token", "new", "--init", "--name", "ci", "--database", u)
	if err != nil {
		t.Fatalf("token new: %v %s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	a := startServe(t, "--database", u)
	b := startServe(t, "--database", u)
	repo, rootFile := freshRepo(t, dir)
	m2 := writeFile(t, dir, "pins-v2.json", repo.PublishManifest(nil))
	m3 := writeFile(t, dir, "pins-v3.json", repo.PublishManifest(nil))
	if _, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", a.url, rootFile, m2, m3); err != nil {
		t.Fatalf("publish: %v %s", err, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(b.url + "/v1/apps/shop/pins.json")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if !bytes.Equal(got, repo.Manifest()) {
				t.Fatal("the second process serves other bytes")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second process never served the manifest: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A rollback through the second process is refused there too.
	_, errOut, err = pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", b.url, m2)
	if err == nil || !strings.Contains(errOut, "rollback") {
		t.Fatalf("rollback through b: %v %q", err, errOut)
	}
}

// TestServeSIGTERM: the process shuts down cleanly on SIGTERM, exit 0.
func TestServeSIGTERM(t *testing.T) {
	p := startServe(t, "--data", filepath.Join(t.TempDir(), "data"))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	time.Sleep(50 * time.Millisecond) // let the log reader catch up
	if !strings.Contains(p.logs.String(), "shutting down") {
		t.Errorf("logs: %s", p.logs.String())
	}
}

// TestServeRotationTargetsConfig: rotation.targets is decoded strictly and
// a target lacking what the switch needs, or naming two challenges, is
// refused at start.
func TestServeRotationTargetsConfig(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown.yaml": "rotation:\n  targets:\n    - host: api.example.com\n      cert_flie: x\n",
		"missing.yaml": "rotation:\n  targets:\n    - host: api.example.com\n      cert_file: c\n      key_file: k\n      reload: [true]\n",
		"both.yaml": "rotation:\n  targets:\n    - {host: api.example.com, cert_file: c, key_file: k, reload: [true], key_ring: r,\n" +
			"       acme: {directory: https://127.0.0.1:1/dir, account_key: " + filepath.Join(dir, "acct.key") + ", http01_listen: ':0', dns01_hook: hook}}\n",
		"wild.yaml": "rotation:\n  targets:\n    - {host: '*.example.com', cert_file: c, key_file: k, reload: [true], key_ring: r,\n" +
			"       acme: {directory: https://127.0.0.1:1/dir, account_key: " + filepath.Join(dir, "acct.key") + ", http01_listen: ':0'}}\n",
		"twice.yaml": "rotation:\n  targets:\n" + strings.Repeat("    - {host: api.example.com, cert_file: c, key_file: k, reload: [true], key_ring: r,\n"+
			"       acme: {directory: https://127.0.0.1:1/dir, account_key: "+filepath.Join(dir, "acct.key")+", http01_listen: ':0'}}\n", 2),
	} {
		var errb bytes.Buffer
		root := newRootCmd()
		root.SetArgs([]string{"serve", "--listen", "127.0.0.1:0", "--database", filepath.Join(dir, name+".db"), "--config", writeFile(t, dir, name, []byte(body))})
		root.SetErr(&errb)
		// A configuration wrongly accepted would serve: the timeout ends it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		root.SetContext(ctx)
		err := root.Execute()
		want := map[string]string{"unknown.yaml": "cert_flie", "missing.yaml": "are required", "both.yaml": "choose one challenge",
			"wild.yaml": "concrete name", "twice.yaml": "listed twice"}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", name, err, want)
		}
	}
}

// TestServeRotationTargetApply: a target from the configuration becomes a
// server.RotationTarget with the rotation section's roots, resolve and
// port, and a missing ACME account key is made with mode 0600.
func TestServeRotationTargetApply(t *testing.T) {
	dir := t.TempDir()
	acct := filepath.Join(dir, "acme.key")
	body := "rotation:\n  port: 8443\n  resolve: [api.example.com:8443:127.0.0.1]\n  targets:\n" +
		"    - {host: api.example.com, cert_file: c.pem, key_file: k.pem, reload: [nginx, -s, reload], key_ring: " + dir + ", settle: 3s,\n" +
		"       acme: {directory: https://127.0.0.1:1/dir, account_key: " + acct + ", agree_tos: true, dns01_hook: /bin/hook --zone x}}\n"
	cfg, err := serveconfig.Load(writeFile(t, dir, "t.yaml", []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cfg.Build(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sc := svc.Server
	if len(sc.Rotation.Targets) != 1 {
		t.Fatalf("targets %+v", sc.Rotation.Targets)
	}
	tg := sc.Rotation.Targets[0]
	if tg.Host != "api.example.com" || tg.KeyRing != dir || tg.Deploy.Port != 8443 || tg.Deploy.Settle != 3*time.Second ||
		tg.Deploy.CertFile != "c.pem" || len(tg.Deploy.Reload) != 3 || len(tg.Deploy.Resolve) != 1 || !tg.ACME.AgreeTerms || tg.ACME.AccountKey == nil {
		t.Fatalf("target %+v", tg)
	}
	if h, ok := tg.ACME.Solver.(*certs.DNS01Hook); !ok || len(h.Command) != 3 {
		t.Fatalf("solver %#v", tg.ACME.Solver)
	}
	if fi, err := os.Stat(acct); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key: %v %v", err, fi)
	}
}
