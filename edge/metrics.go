package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edge's Prometheus metrics. Labels are bounded: route is
// a configured route's name (or "none"), decision one of the fixed
// decisions in edge.go, code the status class ("2xx".."5xx").
type Metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	CertReloads  *prometheus.CounterVec // result: ok, failed
	CRLUpdates   *prometheus.CounterVec // result: ok, failed
	CRLNextAfter prometheus.GaugeFunc
	JWKSFailures prometheus.Counter
}

// NewMetrics registers the edge's metrics on reg. crlNext, when not nil,
// gives the current revocation list's nextUpdate.
func NewMetrics(reg prometheus.Registerer, crlNext func() time.Time) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_edge_requests_total", Help: "Requests by route, decision and status class.",
		}, []string{"route", "decision", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pinset_edge_request_duration_seconds", Help: "Time from request to response, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		CertReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_edge_certificate_reloads_total", Help: "Reloads of the edge's TLS certificate by result.",
		}, []string{"result"}),
		CRLUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_edge_crl_updates_total", Help: "Updates of the device revocation list by result.",
		}, []string{"result"}),
		JWKSFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pinset_edge_jwks_fetch_failures_total", Help: "Failed fetches of the access-token issuer's key set (the keys held stay).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.CertReloads, m.CRLUpdates, m.JWKSFailures)
	if crlNext != nil {
		m.CRLNextAfter = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pinset_edge_crl_next_update_timestamp_seconds",
			Help: "The device revocation list's nextUpdate (Unix seconds; 0 without a list). Devices are refused past it.",
		}, func() float64 {
			t := crlNext()
			if t.IsZero() {
				return 0
			}
			return float64(t.Unix())
		})
		reg.MustRegister(m.CRLNextAfter)
	}
	return m
}

func (m *Metrics) observe(route, decision string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, decision, strconv.Itoa(status/100)+"xx").Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// result counts one outcome on c ("ok" or "failed").
func result(c *prometheus.CounterVec, err error) {
	if c == nil {
		return
	}
	if err != nil {
		c.WithLabelValues("failed").Inc()
		return
	}
	c.WithLabelValues("ok").Inc()
}
