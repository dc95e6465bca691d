package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	reports      *prometheus.CounterVec
	publishes    *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	resigns      *prometheus.CounterVec
	unpins       *prometheus.CounterVec
	witnesses    *prometheus.CounterVec
	mirror       *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pinset_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_reports_received_total", Help: "Pin-failure reports by format and result (stored, duplicate, invalid, too_large, rate_limited, app_rate_limited, unknown_app, quota_full, shed).",
		}, []string{"format", "result"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_publications_total", Help: "Root and manifest uploads by kind and result (published or the refusal code).",
		}, []string{"kind", "result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_admin_auth_failures_total", Help: "Refused admin requests by reason.",
		}, []string{"reason"}),
		resigns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_manifest_resigns_total", Help: "Online manifest re-signings by result.",
		}, []string{"result"}),
	}
	m.unpins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_manifest_unpins_forced_total", Help: "Manifests published with force_unpin that stopped pinning hosts the current manifest pinned, per app.",
	}, []string{"app"})
	m.witnesses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_log_witness_requests_total", Help: "Transparency log witness requests by witness (key name) and result (cosigned, invalid, error).",
	}, []string{"witness", "result"})
	m.mirror = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_mirror_writes_total", Help: "Writes of an app's documents into the static origin (--mirror) by result (written, error).",
	}, []string{"result"})
	docs := &docCollector{s: s,
		version: prometheus.NewDesc("pinset_manifest_version", "Version of the manifest served per app.", []string{"app"}, nil),
		expiry:  prometheus.NewDesc("pinset_manifest_expiry_timestamp_seconds", "Expiry of the manifest served per app.", []string{"app"}, nil),
		rootExp: prometheus.NewDesc("pinset_root_expiry_timestamp_seconds", "Expiry of the latest root per app.", []string{"app"}, nil),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.reports, m.publishes, m.authFailures, m.resigns, m.unpins, m.witnesses, m.mirror, docs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Process and Go metrics, unless the caller's registry has them.
	reg.Register(collectors.NewGoCollector())
	reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m, nil
}

// docCollector exports the served documents' versions and expiries at
// scrape time.
type docCollector struct {
	s                        *Server
	version, expiry, rootExp *prometheus.Desc
}

func (c *docCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.version
	ch <- c.expiry
	ch <- c.rootExp
}

func (c *docCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	apps, err := c.s.store.Apps(ctx)
	if err != nil {
		return
	}
	for _, a := range apps {
		snap, err := c.s.docs.get(ctx, a.ID)
		if err != nil || snap.missing {
			continue
		}
		if snap.manifest != nil {
			ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(snap.manifest.version), a.ID)
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(snap.manifest.expires.Unix()), a.ID)
		}
		if snap.root != nil {
			ch <- prometheus.MustNewConstMetric(c.rootExp, prometheus.GaugeValue, float64(snap.root.expires.Unix()), a.ID)
		}
	}
}

// routeMetrics holds one route's metric children. Resolving a child from
// its label values hashes the labels and takes the vector's lock, so the
// busiest combinations are resolved once, on first use (series still
// appear only once a route has answered), and kept here.
type routeMetrics struct {
	m        *metrics
	name     string // the route label: the mux pattern or "unmatched"
	duration atomic.Pointer[observer]
	get200   atomic.Pointer[counter]
	get304   atomic.Pointer[counter]
}

type (
	observer struct{ prometheus.Observer }
	counter  struct{ prometheus.Counter }
)

func (m *metrics) route(name string) *routeMetrics { return &routeMetrics{m: m, name: name} }

// observe counts one request and records its duration.
func (rm *routeMetrics) observe(method string, code int, d time.Duration) {
	rm.counter(methodLabel(method), code).Inc()
	o := rm.duration.Load()
	if o == nil {
		o = &observer{rm.m.duration.WithLabelValues(rm.name)}
		rm.duration.Store(o)
	}
	o.Observe(d.Seconds())
}

func (rm *routeMetrics) counter(method string, code int) prometheus.Counter {
	var slot *atomic.Pointer[counter]
	if method == http.MethodGet {
		switch code {
		case http.StatusOK:
			slot = &rm.get200
		case http.StatusNotModified:
			slot = &rm.get304
		}
	}
	if slot == nil {
		return rm.m.requests.WithLabelValues(rm.name, method, codeLabel(code))
	}
	if c := slot.Load(); c != nil {
		return c.Counter
	}
	// Concurrent first uses resolve the same child.
	c := &counter{rm.m.requests.WithLabelValues(rm.name, method, codeLabel(code))}
	slot.Store(c)
	return c.Counter
}

// Label values of pinset_http_requests_total come from fixed sets, since a
// client chooses what it sends: every series stays in memory for the life
// of the process, so a label a client could vary without bound (the
// method is any token the client likes) would grow memory and the /metrics
// answer with every request. The route label is a mux pattern or
// "unmatched", never the path.

// methodLabel returns the method for the standard methods of RFC 9110
// (and PATCH, RFC 5789), and "other" for anything else.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// codeLabel returns the status code when Go knows its name, and its class
// ("4xx") otherwise. Handlers choose the codes, but net/http accepts any
// three-digit code, so the set is closed here too.
func codeLabel(code int) string {
	if http.StatusText(code) != "" {
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code/100) + "xx"
}

// metricsHandler serves the registry, behind Config.MetricsToken when
// it is set.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
	if s.cfg.MetricsToken == "" {
		return h
	}
	want := sha256.Sum256([]byte(s.cfg.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := bearer(r.Header.Get("Authorization"))
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.m.authFailures.WithLabelValues("metrics").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="pinset metrics"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "/metrics needs the metrics token: Authorization: Bearer TOKEN")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// metricsMux is the handler of Config.MetricsListener: /metrics only.
func (s *Server) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	return mux
}

func digestHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
