package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
)

// The monitor of `pinset serve`: the "monitor" section of the serve
// configuration, decoded strictly. See docs/monitoring.md.
//
//	monitor:
//	  enabled: true              # default
//	  interval: 5m
//	  timeout: 10s               # per address
//	  expiry_warning: 21d
//	  port: 443
//	  cafile: /etc/pinset/extra-roots.pem
//	  resolve: [api.example.com:443:10.0.0.7]
//	  report_spike: {threshold: 20, window: 15m}
//	  external_url: https://pins.example.com
//	  alerts:
//	    - slack: https://hooks.slack.com/services/T000/B000/XXXX
//	    - alertmanager: http://alertmanager.internal:9093
//	      repeat_interval: 1m
//	    - webhook: https://ops.example.com/hooks/pinset
type monitorConfig struct {
	Enabled       *bool         `yaml:"enabled"`
	Interval      string        `yaml:"interval"`
	Timeout       string        `yaml:"timeout"`
	ExpiryWarning string        `yaml:"expiry_warning"`
	Port          int           `yaml:"port"`
	Concurrency   int           `yaml:"concurrency"`
	CAFile        string        `yaml:"cafile"`
	Resolve       []string      `yaml:"resolve"`
	ReportSpike   *spikeConfig  `yaml:"report_spike"`
	ExternalURL   string        `yaml:"external_url"`
	Alerts        []alertConfig `yaml:"alerts"`
}

type spikeConfig struct {
	Threshold int    `yaml:"threshold"`
	Window    string `yaml:"window"`
}

type alertConfig struct {
	Slack          string `yaml:"slack"`
	Alertmanager   string `yaml:"alertmanager"`
	Webhook        string `yaml:"webhook"`
	RepeatInterval string `yaml:"repeat_interval"`
}

func init() { serveHooks = append(serveHooks, monitorServeHook) }

// monitorServeHook builds the monitor from the configuration, registers
// its metrics on the server's registry, runs it as a server task and adds
// its admin endpoints (/v1/admin/monitor/results and /alerts).
func monitorServeHook(cfg *serveConfig, sc *server.Config) error {
	mc, err := monitorDecode(&cfg.Monitor)
	if err != nil {
		return err
	}
	if mc.Enabled != nil && !*mc.Enabled {
		return nil
	}
	mcfg, err := monitorBuild(mc)
	if err != nil {
		return err
	}
	mcfg.Logger = sc.Logger
	mcfg.Now = sc.Now
	if mcfg.LogAudit, err = monitorLogAudit(cfg); err != nil { // audit.go
		return err
	}
	m := monitor.New(sc.Store, mcfg)
	if sc.Registry == nil {
		sc.Registry = prometheus.NewRegistry()
	}
	if err := sc.Registry.Register(m.Collector()); err != nil {
		return fmt.Errorf("monitor: metrics: %w", err)
	}
	sc.Tasks = append(sc.Tasks, m.Run)
	cfg.alerts = m.Alerts // the console's alerts page
	prev := sc.Routes
	sc.Routes = func(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
		if prev != nil {
			prev(mux, admin)
		}
		m.Routes(mux, admin)
	}
	return nil
}

// monitorDecode decodes the "monitor" node strictly: unknown keys are
// errors, as everywhere in the serve configuration.
func monitorDecode(n *yaml.Node) (*monitorConfig, error) {
	mc := &monitorConfig{}
	if n == nil || n.Kind == 0 {
		return mc, nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("monitor: %v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(mc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("monitor: %v", err)
	}
	return mc, nil
}

// monitorBuild turns the configuration into monitor.Config (without the
// store, logger and clock, which the server supplies).
func monitorBuild(mc *monitorConfig) (monitor.Config, error) {
	var c monitor.Config
	var err error
	if c.Interval, err = optDuration("monitor.interval", mc.Interval, monitor.DefaultInterval); err != nil {
		return c, err
	}
	if c.Interval < 10*time.Second {
		return c, fmt.Errorf("monitor.interval %s: at least 10s", c.Interval)
	}
	cf := checkFlags{caFile: mc.CAFile, expiryWarning: mc.ExpiryWarning, resolve: mc.Resolve, port: mc.Port, concurrency: mc.Concurrency}
	if cf.expiryWarning == "" {
		cf.expiryWarning = "21d"
	}
	if cf.port == 0 {
		cf.port = check.DefaultPort
	}
	if cf.timeout, err = optDuration("monitor.timeout", mc.Timeout, check.DefaultTimeout); err != nil {
		return c, err
	}
	if c.Check, err = cf.options(); err != nil {
		return c, fmt.Errorf("monitor: %v", err)
	}
	if s := mc.ReportSpike; s != nil {
		c.SpikeThreshold = s.Threshold
		if c.SpikeWindow, err = optDuration("monitor.report_spike.window", s.Window, monitor.DefaultSpikeWindow); err != nil {
			return c, err
		}
	}
	var routes []alert.Route
	client := &http.Client{Timeout: alert.DefaultTimeout}
	for i, a := range mc.Alerts {
		r := alert.Route{}
		n := 0
		if a.Slack != "" {
			r.Notifier, n = &alert.Slack{URL: a.Slack, Client: client}, n+1
		}
		if a.Alertmanager != "" {
			r.Notifier, n = &alert.Alertmanager{URL: a.Alertmanager, Client: client, FiringTTL: 4 * c.Interval}, n+1
		}
		if a.Webhook != "" {
			r.Notifier, n = &alert.Webhook{URL: a.Webhook, Client: client, ExternalURL: mc.ExternalURL}, n+1
		}
		if n != 1 {
			return c, fmt.Errorf("monitor.alerts[%d]: give exactly one of slack, alertmanager or webhook", i)
		}
		if r.RepeatInterval, err = optDuration(fmt.Sprintf("monitor.alerts[%d].repeat_interval", i), a.RepeatInterval, 0); err != nil {
			return c, err
		}
		if a.Alertmanager != "" && r.RepeatInterval == 0 {
			// Firing alerts are pushed with endsAt four rounds ahead (as
			// Prometheus does): repeat them every round.
			r.RepeatInterval = c.Interval / 2
		}
		routes = append(routes, r)
	}
	if len(routes) > 0 {
		gen := ""
		if mc.ExternalURL != "" {
			gen = mc.ExternalURL + "/metrics"
		}
		c.Alerts = alert.NewManager(routes, alert.Options{GeneratorURL: gen})
	}
	return c, nil
}
