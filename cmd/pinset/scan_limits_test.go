package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pinset.dev/pinset/internal/testtool"
)

// deepXMLPlist is an Info.plist of n unclosed <array> tags after a comment
// of incompressible padding, so that its zip entry stays under the archive
// reader's 200:1 compression-ratio limit.
func deepXMLPlist(n, pad int) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- ")
	rnd := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, pad)
	for i := range raw {
		raw[i] = byte(rnd.Uint32())
	}
	b.WriteString(base64.StdEncoding.EncodeToString(raw))
	b.WriteString(" -->\n<plist version=\"1.0\">")
	b.WriteString(strings.Repeat("<array>", n))
	return b.Bytes()
}

// deepBinaryPlist is a binary plist of n arrays, each holding the next.
func deepBinaryPlist(n int) []byte {
	const size = 3 // object references and offsets
	put := func(b []byte, v int) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }
	b := []byte("bplist00")
	offsets := make([]int, n)
	for i := range n {
		offsets[i] = len(b)
		if i == n-1 {
			b = append(b, 0xA0)
			continue
		}
		b = put(append(b, 0xA1), i+1)
	}
	table := len(b)
	for _, o := range offsets {
		b = put(b, o)
	}
	var trailer [32]byte
	trailer[6], trailer[7] = size, size
	binary.BigEndian.PutUint64(trailer[8:], uint64(n))
	binary.BigEndian.PutUint64(trailer[16:], 0)
	binary.BigEndian.PutUint64(trailer[24:], uint64(table))
	return append(b, trailer[:]...)
}

func ipaWith(t *testing.T, info []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range map[string][]byte{
		"Payload/App.app/Info.plist": info,
		"Payload/App.app/App":        []byte("\xcf\xfa\xed\xfe"),
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// runMeasured runs a pinset binary built without the race detector and
// returns its exit status, stderr, wall time and peak resident memory in
// bytes.
//
// Two things would otherwise inflate the figure: the test binary (which
// testscript installs as "pinset") carries the race detector's shadow
// memory when the tests run with -race, and on Linux a child started by
// os/exec (clone with CLONE_VFORK|CLONE_VM) records its parent's peak RSS
// as its own at exec. So the production binary is built once, and started
// through a small process (the "pinset-rusage" command of TestMain) whose
// own memory is small.
func runMeasured(t *testing.T, args ...string) (code int, stderr string, took time.Duration, maxRSS int64) {
	t.Helper()
	bin := plainPinsetBin(t)
	wrapper, err := exec.LookPath("pinset-rusage")
	if err != nil {
		t.Fatalf("pinset-rusage helper not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rusageFile := filepath.Join(t.TempDir(), "rusage")
	cmd := exec.CommandContext(ctx, wrapper, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), "PINSET_RUSAGE_OUT="+rusageFile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	took = time.Since(start)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("pinset %v: %v", args, err)
		}
	}
	b, err := os.ReadFile(rusageFile)
	if err != nil {
		t.Fatalf("no resource usage from the wrapper: %v (stderr %q)", err, errb.String())
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("resource usage %q: %v", b, err)
	}
	if out.Len() > 0 {
		t.Errorf("stdout: %q", out.String())
	}
	return cmd.ProcessState.ExitCode(), errb.String(), took, kib * 1024 // Linux: KiB
}

var plainBin struct {
	once sync.Once
	path string
	err  error
}

// plainPinsetBin builds cmd/pinset as released (no race detector) once per
// test process.
func plainPinsetBin(t *testing.T) string {
	t.Helper()
	goTool := testtool.Need(t, "go", "install Go")
	plainBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "pinset-plain")
		if err != nil {
			plainBin.err = err
			return
		}
		plainBin.path = filepath.Join(dir, "pinset")
		out, err := exec.Command(goTool, "build", "-o", plainBin.path, ".").CombinedOutput()
		if err != nil {
			plainBin.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if plainBin.err != nil {
		t.Fatal(plainBin.err)
	}
	return plainBin.path
}

// rusageMain is the "pinset-rusage" command: it runs os.Args[1:] as a
// child, writes the child's peak RSS (KiB) to $PINSET_RUSAGE_OUT and exits
// with the child's status.
func rusageMain() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			fmt.Fprintln(os.Stderr, "pinset-rusage:", err)
			os.Exit(2)
		}
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "pinset-rusage: no rusage on this platform")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Getenv("PINSET_RUSAGE_OUT"), []byte(strconv.FormatInt(ru.Maxrss, 10)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "pinset-rusage:", err)
		os.Exit(2)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}

// A 43 KB IPA whose Info.plist opens 1.15 million <array> tags, and a
// binary plist of 1.15 million nested arrays, are refused quickly, in
// one line, with a non-zero status, in bounded memory. Before the plist
// readers checked depth first, the first died with "fatal error: stack
// overflow" (which recover cannot catch) and the second ran for minutes
// at about 1 GB.
func TestScanDeepPlist(t *testing.T) {
	const depth = 1_150_000
	dir := t.TempDir()
	xmlIPA := ipaWith(t, deepXMLPlist(depth, 30_000))
	if len(xmlIPA) > 64<<10 {
		t.Fatalf("the XML case should be a small IPA, is %d bytes", len(xmlIPA))
	}
	binPlist := deepBinaryPlist(depth)
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"xml in ipa", "deep.ipa", xmlIPA, "deep.ipa: Payload/App.app/Info.plist: property list nested deeper than 64 levels"},
		{"binary in ipa", "deepbin.ipa", ipaWith(t, binPlist), "deepbin.ipa: Payload/App.app/Info.plist: binary property list of 1150000 objects exceeds the limit of 200000"},
		{"bare binary", "deep.plist", binPlist, "deep.plist: binary property list of 1150000 objects exceeds the limit of 200000"},
		// Fewer objects than the limit: the walk of the object table
		// refuses the depth.
		{"binary 150k deep", "deep150k.plist", deepBinaryPlist(150_000), "deep150k.plist: property list nested deeper than 64 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scanWrite(t, dir, tc.file, tc.data)
			code, stderr, took, rss := runMeasured(t, "scan", p)
			t.Logf("%s (%d bytes): exit %d in %v, peak RSS %.1f MB: %q", tc.file, len(tc.data), code, took, float64(rss)/1e6, stderr)
			if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, filepath.Join(dir, tc.want)) {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "fatal error") {
				t.Errorf("crashed: %.300s", stderr)
			}
			// Generous bounds: the work is a linear scan of 8 MB.
			if took > 20*time.Second {
				t.Errorf("took %v", took)
			}
			if rss > 200<<20 {
				t.Errorf("peak RSS %d MB, want < 200 MB", rss>>20)
			}
		})
	}
}
