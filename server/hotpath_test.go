package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The document path resolves its metric children once and keeps them; the
// counts must still be exact per route, method and status, and requests no
// route matched must still be counted.
func TestRequestMetricsCounts(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	r := e.do("GET", "/v1/apps/shop/pins.json", nil)
	for range 4 {
		e.do("GET", "/v1/apps/shop/pins.json", nil)
	}
	for range 3 {
		if c := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", r.h.Get("ETag")).code; c != 304 {
			t.Fatalf("If-None-Match: %d", c)
		}
	}
	e.do("HEAD", "/v1/apps/shop/pins.json", nil)
	e.do("GET", "/v1/apps/nosuch/pins.json", nil)
	e.do("GET", "/nowhere", nil)
	e.do("GET", "/nowhere", nil)
	m := string(e.do("GET", "/metrics", nil).body)
	const pins = `route="GET /v1/apps/{app}/pins.json"`
	for _, want := range []string{
		`pinset_http_requests_total{code="200",method="GET",` + pins + `} 5`,
		`pinset_http_requests_total{code="304",method="GET",` + pins + `} 3`,
		`pinset_http_requests_total{code="200",method="HEAD",` + pins + `} 1`,
		`pinset_http_requests_total{code="404",method="GET",` + pins + `} 1`,
		`pinset_http_requests_total{code="404",method="GET",route="unmatched"} 2`,
		`pinset_http_requests_total{code="201",method="PUT",route="PUT /v1/admin/apps/{app}/pins"} 1`,
		`pinset_http_request_duration_seconds_count{` + pins + `} 10`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "pinset_http_requests_total") {
				t.Log(l)
			}
		}
	}
}

// At the default level a successful document GET is not logged; errors
// and admin requests are, without the token.
func TestRequestLogLevels(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	var buf syncBuffer
	e.srv.log = slog.New(slog.NewTextHandler(&buf, nil)) // level info, as serve runs by default
	e.do("GET", "/v1/apps/shop/pins.json", nil)
	e.do("GET", "/v1/apps/nosuch/pins.json", nil)
	e.admin("GET", "/v1/admin/apps", nil)
	logs := buf.String()
	if strings.Contains(logs, "path=/v1/apps/shop/pins.json") {
		t.Errorf("a document hit was logged at info level:\n%s", logs)
	}
	if !strings.Contains(logs, "path=/v1/apps/nosuch/pins.json") || !strings.Contains(logs, "status=404") {
		t.Errorf("the 404 was not logged:\n%s", logs)
	}
	if !strings.Contains(logs, "path=/v1/admin/apps") || strings.Contains(logs, e.token) {
		t.Errorf("admin request not logged, or logged with its token:\n%s", logs)
	}
}

func TestNegotiationLists(t *testing.T) {
	d := &doc{etag: `"a"`, etagGz: `"a-gz"`}
	for _, c := range []struct {
		inm  []string
		want bool
	}{
		{[]string{`"a"`}, true},
		{[]string{`W/"a-gz"`}, true},
		{[]string{`"x", "y" ,W/"a"`}, true},
		{[]string{`"x"`, `"a"`}, true}, // a second header line
		{[]string{`*`}, true},
		{[]string{`"x", "y"`}, false},
		{[]string{``}, false},
		{[]string{`"a`}, false},
	} {
		if got := etagMatch(c.inm, d); got != c.want {
			t.Errorf("etagMatch(%q) = %v", c.inm, got)
		}
	}
	for _, c := range []struct {
		ae   []string
		want bool
	}{
		{[]string{"gzip"}, true},
		{[]string{"deflate, GZIP;q=0.5"}, true},
		{[]string{"br", "gzip"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.0, deflate"}, false},
		{[]string{"identity"}, false},
		{[]string{"xgzip, gzipx"}, false},
		{nil, false},
	} {
		if got := acceptsGzip(c.ae); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v", c.ae, got)
		}
	}
}

// The negotiation reads the request headers as net/http stores them
// (canonical keys), also when a client sends the list over several lines.
func TestNegotiationRepeatedHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	req := httptest.NewRequest("GET", "/v1/apps/shop/pins.json", nil)
	req.Header.Add("accept-encoding", "br")
	req.Header.Add("accept-encoding", "gzip")
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip on a second line: %d %q", w.Code, w.Header().Get("Content-Encoding"))
	}
	tag := w.Header().Get("ETag")
	req = httptest.NewRequest("GET", "/v1/apps/shop/pins.json", nil)
	req.Header.Add("If-None-Match", `"other"`)
	req.Header.Add("If-None-Match", tag)
	w = httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	if w.Code != http.StatusNotModified {
		t.Errorf("ETag on a second If-None-Match line: %d", w.Code)
	}
}

// Every label of the request metrics comes from a fixed set: 20,000
// made-up methods (each a new series before, growing the heap by about
// 19 MiB and /metrics to 5.4 MB) leave the number of series exactly where
// one made-up method put it. Codes a handler takes from the request are
// closed into classes too.
func TestMetricsLabelsBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Routes = func(mux *http.ServeMux, _ func(http.Handler) http.Handler) {
			mux.HandleFunc("GET /echo/{code}", func(w http.ResponseWriter, r *http.Request) {
				code, _ := strconv.Atoi(r.PathValue("code"))
				w.WriteHeader(code)
			})
		}
	})
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	paths := []string{"/v1/apps/shop/pins.json", "/v1/reports", "/v1/admin/apps", "/nowhere", "/metrics"}
	send := func(method string, code int) {
		for _, p := range paths {
			e.do(method, p, nil)
		}
		e.do("GET", "/echo/"+strconv.Itoa(code), nil)
	}
	series := func() (int, int) {
		body := e.do("GET", "/metrics", nil).body
		n := 0
		for _, l := range strings.Split(string(body), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				n++
			}
		}
		return n, len(body)
	}
	send("GET", 200)
	send("M0", 590)
	before, size := series()
	for i := range 20000 {
		send(fmt.Sprintf("M%d", i+1), 590+i%10)
	}
	after, sizeAfter := series()
	if after != before {
		t.Fatalf("20,000 made-up methods grew /metrics from %d to %d series (%d to %d bytes)", before, after, size, sizeAfter)
	}
	m := string(e.do("GET", "/metrics", nil).body)
	for _, want := range []string{
		`pinset_http_requests_total{code="404",method="other",route="unmatched"} 20001`,
		`pinset_http_requests_total{code="5xx",method="GET",route="GET /echo/{code}"} 20001`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `method="M1"`) {
		t.Error("a made-up method is a label value")
	}
}
