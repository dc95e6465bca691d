package monitor

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/alert"
)

// Metric descriptions. Per-address series carry app, host, port and
// address; they are kept (with probe success 0 and the last values seen)
// when an address stops answering, and dropped only when the address
// leaves DNS or the host leaves the manifest.
var (
	addrLabels = []string{"app", "host", "port", "address"}
	hostLabels = []string{"app", "host", "port"}

	descSuccess = prometheus.NewDesc("pinset_monitor_probe_success",
		"Whether the last TLS handshake with the address completed (1) or not (0).", addrLabels, nil)
	descCoverage = prometheus.NewDesc("pinset_monitor_coverage",
		"Whether clients holding the current manifest accept the address (1) or refuse it (0); the last known value while the address does not answer.", addrLabels, nil)
	descNotAfter = prometheus.NewDesc("pinset_monitor_cert_not_after_timestamp_seconds",
		"Not-after of the leaf certificate the address served, last known.", addrLabels, nil)
	descChainNotAfter = prometheus.NewDesc("pinset_monitor_chain_not_after_timestamp_seconds",
		"Earliest not-after of the chain clients verify at the address, last known.", addrLabels, nil)
	descLastSuccess = prometheus.NewDesc("pinset_monitor_last_success_timestamp_seconds",
		"When the address last completed a TLS handshake.", addrLabels, nil)
	descResolved = prometheus.NewDesc("pinset_monitor_host_resolved",
		"Whether the host's name resolved in the last round.", hostLabels, nil)
	descPins = prometheus.NewDesc("pinset_monitor_pins",
		"Number of pins the current manifest lists for the host (0 when unpinned).", hostLabels, nil)
	descBackupPins = prometheus.NewDesc("pinset_monitor_backup_pins",
		"Pins of the host that no address serves: keys held back for the next rotation.", hostLabels, nil)
	descManifest = prometheus.NewDesc("pinset_monitor_manifest_version",
		"Version of the manifest the host was last checked against.", hostLabels, nil)
	descReports = prometheus.NewDesc("pinset_monitor_pin_failure_reports",
		"Pin-failure reports for the host that arrived within the spike window (to the minute), repeats included.", []string{"app", "host"}, nil)
	descFiring = prometheus.NewDesc("pinset_monitor_alerts_firing",
		"Alerts firing after the last round, by alert name.", []string{"alertname"}, nil)
	descRounds = prometheus.NewDesc("pinset_monitor_rounds_total",
		"Monitoring rounds run.", nil, nil)
	descRoundFailures = prometheus.NewDesc("pinset_monitor_round_failures_total",
		"Rounds that could not read the apps from the store.", nil, nil)
	descNotifyFailures = prometheus.NewDesc("pinset_monitor_alert_delivery_failures_total",
		"Rounds in which some alert route failed to deliver (retried at the next round).", nil, nil)
	descLastRound = prometheus.NewDesc("pinset_monitor_last_round_timestamp_seconds",
		"When the last round started.", nil, nil)
	descRoundDuration = prometheus.NewDesc("pinset_monitor_last_round_duration_seconds",
		"How long the last round took.", nil, nil)
)

// Alert names always exported by pinset_monitor_alerts_firing, so that the
// series exist (at 0) before anything fires.
var alertNames = []string{AlertExpiring, AlertCoverageLost, AlertNoBackupPin, AlertProbeFailing, AlertReportSpike, AlertHostUnpinned, AlertRotationSpike, AlertACMEFailing, AlertRenewalOverdue}

type metrics struct {
	m *Monitor

	mu             sync.Mutex
	rounds         float64
	roundFailures  float64
	notifyFailures float64
	lastRound      time.Time
	lastDuration   time.Duration
	firing         map[string]float64
}

func newMetrics(m *Monitor) *metrics { return &metrics{m: m, firing: map[string]float64{}} }

func (x *metrics) roundFailed() { x.mu.Lock(); x.roundFailures++; x.mu.Unlock() }
func (x *metrics) notifyFailed() {
	x.mu.Lock()
	x.notifyFailures++
	x.mu.Unlock()
}

func (x *metrics) roundDone(start time.Time, d time.Duration, alerts []alert.Alert) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rounds++
	x.lastRound, x.lastDuration = start, d
	x.firing = map[string]float64{}
	for _, a := range alerts {
		x.firing[a.Name()]++
	}
}

// Collector returns the monitor's Prometheus collector; register it on the
// service's registry.
func (m *Monitor) Collector() prometheus.Collector { return m.metrics }

// Describe implements prometheus.Collector.
func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSuccess, descCoverage, descNotAfter, descChainNotAfter, descLastSuccess,
		descResolved, descPins, descBackupPins, descManifest, descReports, descFiring, descRounds, descRoundFailures,
		descNotifyFailures, descLastRound, descRoundDuration} {
		ch <- d
	}
}

func ts(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	s := x.m.prev()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, k := range sortedAddrKeys(s.addrs) {
		a := s.addrs[k]
		l := []string{k.app, k.host, strconv.Itoa(k.port), k.addr}
		gauge(descSuccess, b2f(a.success), l...)
		if !a.known {
			continue
		}
		gauge(descCoverage, a.covered, l...)
		if !a.notAfter.IsZero() {
			gauge(descNotAfter, ts(a.notAfter), l...)
		}
		if !a.chainNotAfter.IsZero() {
			gauge(descChainNotAfter, ts(a.chainNotAfter), l...)
		}
		gauge(descLastSuccess, ts(a.lastSuccess), l...)
	}
	for k, h := range s.hosts {
		l := []string{k.app, k.host, strconv.Itoa(k.port)}
		gauge(descResolved, b2f(h.resolved), l...)
		gauge(descPins, float64(h.pins), l...)
		gauge(descManifest, float64(h.manifest), l...)
		if h.pinned && h.backupPins >= 0 {
			gauge(descBackupPins, float64(h.backupPins), l...)
		}
	}
	for app, hosts := range s.reports {
		for host, n := range hosts {
			gauge(descReports, float64(n), app, host)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, n := range alertNames {
		gauge(descFiring, x.firing[n], n)
	}
	ch <- prometheus.MustNewConstMetric(descRounds, prometheus.CounterValue, x.rounds)
	ch <- prometheus.MustNewConstMetric(descRoundFailures, prometheus.CounterValue, x.roundFailures)
	ch <- prometheus.MustNewConstMetric(descNotifyFailures, prometheus.CounterValue, x.notifyFailures)
	if !x.lastRound.IsZero() {
		gauge(descLastRound, ts(x.lastRound))
		gauge(descRoundDuration, x.lastDuration.Seconds())
	}
}
