package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/trust"
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

// wireMonitor builds the monitor from the configuration (nil: none; a
// monitor section with enabled: false: none), registers its metrics on the
// server's registry, runs it as a server task and adds its admin endpoints
// (/v1/admin/monitor/results and /alerts). current, when set, is where it
// reads each app's current manifest (the server's document cache, so the
// service decodes it once); nil means the store.
func wireMonitor(mc *monitorConfig, sc *server.Config, current func(ctx context.Context, app string) (*trust.Manifest, error)) error {
	if mc == nil {
		mc = &monitorConfig{}
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
	mcfg.Manifests = current
	m := monitor.New(sc.Store, mcfg)
	if sc.Registry == nil {
		sc.Registry = prometheus.NewRegistry()
	}
	if err := sc.Registry.Register(m.Collector()); err != nil {
		return fmt.Errorf("monitor: metrics: %w", err)
	}
	sc.Tasks = append(sc.Tasks, m.Run)
	prev := sc.Routes
	sc.Routes = func(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
		if prev != nil {
			prev(mux, admin)
		}
		m.Routes(mux, admin)
	}
	return nil
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
