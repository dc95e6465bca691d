package testtool

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test was stopped.
type recorder struct {
	testing.TB
	how, msg string
}

type stop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.how, r.msg = "fatal", fmt.Sprintf(format, args...)
	panic(stop{})
}
func (r *recorder) Skipf(format string, args ...any) {
	r.how, r.msg = "skip", fmt.Sprintf(format, args...)
	panic(stop{})
}
func (r *recorder) Logf(format string, args ...any) {
	r.how, r.msg = "log", fmt.Sprintf(format, args...)
}

func run(f func(tb testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stop); !ok {
				panic(v)
			}
		}
	}()
	f(r)
	return r
}

const absent = "pinset-testtool-no-such-program"

func TestMissingSkipsLocallyAndFailsInCI(t *testing.T) {
	for _, c := range []struct {
		ci, want string
	}{{"", "skip"}, {"true", "fatal"}, {"1", "fatal"}} {
		t.Setenv("CI", c.ci)
		for name, f := range map[string]func(tb testing.TB){
			"Need":     func(tb testing.TB) { Need(tb, absent, "apt-get install -y it") },
			"NeedFile": func(tb testing.TB) { NeedFile(tb, "/nonexistent/"+absent+".jar", "apt-get install -y it") },
			"NeedEnv":  func(tb testing.TB) { NeedEnv(tb, "PINSET_TESTTOOL_UNSET", "export it") },
		} {
			r := run(f)
			if r.how != c.want {
				t.Errorf("CI=%q: %s stopped the test with %q (%s), want %q", c.ci, name, r.how, r.msg, c.want)
			}
			if !strings.Contains(r.msg, "apt-get install -y it") && !strings.Contains(r.msg, "export it") {
				t.Errorf("CI=%q: %s: message %q does not say how to fix it", c.ci, name, r.msg)
			}
		}
		r := run(func(tb testing.TB) {
			if _, ok := Optional(tb, absent, "apt-get install -y it"); ok {
				tb.Logf("found")
			}
		})
		want := map[string]string{"skip": "log", "fatal": "fatal"}[c.want]
		if r.how != want || !strings.Contains(r.msg, "NOT run") && want == "log" {
			t.Errorf("CI=%q: Optional: %q (%s), want %q", c.ci, r.how, r.msg, want)
		}
	}
}

func TestNeedFindsProgram(t *testing.T) {
	t.Setenv("CI", "true")
	if p := Need(t, "sh", "install a shell"); p == "" {
		t.Fatal("Need returned no path for sh")
	}
}
