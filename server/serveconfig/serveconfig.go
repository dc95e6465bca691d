// Package serveconfig is the configuration file of `pinset serve`: its
// YAML schema (docs/api.md, docs/monitoring.md, docs/rotation.md), strict
// decoding (unknown keys are named with their line), and its validation
// into the service's parts — server.Config, the store's report limits, the
// TLS certificate and the monitor's configuration — before anything
// listens. cmd/pinset only turns flags into overrides of a File and wires
// what Build returns.
package serveconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/mirror"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// MaxFile caps the configuration file.
const MaxFile = 1 << 20

// File is the strict configuration file of `pinset serve` (YAML or JSON;
// unknown keys are errors). Flags given on the command line win: the
// command overrides the fields they name.
type File struct {
	Listen        string `yaml:"listen"`
	MetricsListen string `yaml:"metrics_listen"`
	MetricsToken  string `yaml:"metrics_token_file"` // a file holding the token
	Data          string `yaml:"data"`
	Database      string `yaml:"database"`
	TLSCert       string `yaml:"tls_cert"`
	TLSKey        string `yaml:"tls_key"`
	AdminClientCA string `yaml:"admin_client_ca"`
	// AdminListen, when set, is the only address serving the admin API
	// and the console (admin.go).
	AdminListen     string    `yaml:"admin_listen"`
	AdminTLSCert    string    `yaml:"admin_tls_cert"`
	AdminTLSKey     string    `yaml:"admin_tls_key"`
	LogFormat       string    `yaml:"log_format"` // text (default) or json
	LogLevel        string    `yaml:"log_level"`  // debug, info (default), warn, error
	RefreshInterval string    `yaml:"refresh_interval"`
	ReportRate      float64   `yaml:"report_rate"`
	ReportBurst     int       `yaml:"report_burst"`
	ReportAppRate   float64   `yaml:"report_app_rate"`
	ReportAppBurst  int       `yaml:"report_app_burst"`
	Reports         *Reports  `yaml:"reports"`
	PublishGate     *Gate     `yaml:"publish_gate"`
	UnpinPeriod     string    `yaml:"unpin_period"`
	Resign          *Resign   `yaml:"resign"`
	Adoption        *Adoption `yaml:"adoption"`
	Rotation        *Rotation `yaml:"rotation"`
	Monitor         *Monitor  `yaml:"monitor"`
	// TransparencyLog is the service's transparency log (and the
	// monitor's audit of it).
	TransparencyLog *TransparencyLog `yaml:"transparency_log"`
	// Console is the web console under /console/ (on by default).
	Console *Console `yaml:"console"`
	// Devices is the device CA (devices.go).
	Devices *Devices `yaml:"devices"`
	// Mirror is a static origin directory: every publication is written
	// into it under the API's paths (package server/mirror) for nginx, a
	// CDN origin or object storage to serve. Not with transparency_log.
	Mirror string `yaml:"mirror"`
}

// Reports bounds report storage per app (docs/reports.md).
type Reports struct {
	MaxRows        int64  `yaml:"max_rows"`        // default 100000; -1: no limit
	MaxBytes       int64  `yaml:"max_bytes"`       // default 268435456 (256 MiB); -1: no limit
	Retention      string `yaml:"retention"`       // default 90d
	EventRetention string `yaml:"event_retention"` // default 7d
}

// Gate is the publish gate.
type Gate struct {
	Enabled *bool    `yaml:"enabled"` // default true
	CAFile  string   `yaml:"cafile"`
	Timeout string   `yaml:"timeout"`
	Resolve []string `yaml:"resolve"`
	Port    int      `yaml:"port"` // port of the manifests' hosts; default 443
	Strict  bool     `yaml:"strict"`
}

// Resign is online re-signing (pins role threshold 1 only).
type Resign struct {
	Key            string   `yaml:"key"` // PEM private key of a pins-role key
	PassphraseFile string   `yaml:"passphrase_file"`
	Before         string   `yaml:"before"`   // re-sign when expiry is this close; default 7d
	Lifetime       string   `yaml:"lifetime"` // validity of re-signed manifests; default 30d
	Interval       string   `yaml:"interval"` // default 1h
	Apps           []string `yaml:"apps"`
}

// Load reads and strictly decodes a configuration file; "" is an empty one.
func Load(path string) (*File, error) {
	f := &File{}
	if path == "" {
		return f, nil
	}
	b, err := input.Read(path, MaxFile)
	if err != nil {
		return nil, err
	}
	if err := input.DecodeYAMLStrict(path, b, f); err != nil {
		return nil, err
	}
	return f, nil
}

func optDuration(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := input.ParseDays(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return d, nil
}

// readKey reads a PEM private key file and its passphrase file (the first
// line, as --passphrase-file everywhere); setting names the key in errors.
func readKey(setting, keyFile, passFile string) (*trust.Signer, error) {
	kb, err := input.Read(keyFile, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	var pass []byte
	if passFile != "" {
		if pass, err = input.ReadPassphrase(passFile); err != nil {
			return nil, fmt.Errorf("%s passphrase_file: %w", setting, err)
		}
	}
	s, err := trust.ParsePrivateKeyPEM(kb, pass)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", setting, keyFile, err)
	}
	return s, nil
}

// ErrAdminCANeedsTLS: admin_client_ca without tls_cert and tls_key.
var ErrAdminCANeedsTLS = errors.New("--admin-client-ca needs TLS")

// Service is what a configuration builds, before anything listens.
type Service struct {
	// Server is the server's configuration without its store, registry,
	// listeners and tasks, which the caller adds.
	Server server.Config
	// Limits bound report storage (store.WithReportLimits).
	Limits store.ReportLimits
	// Cert is the TLS certificate; nil means plain HTTP.
	Cert *tls.Certificate
	// Monitor is the monitor's configuration; nil means no monitor.
	Monitor *monitor.Config
	// Console is the web console's configuration; nil means no console.
	Console *ConsoleSettings
}

// Build validates the whole configuration and builds the service's parts;
// logs go to logOut in the configured format and level.
func (f *File) Build(logOut io.Writer) (*Service, error) {
	logger, err := f.logger(logOut)
	if err != nil {
		return nil, err
	}
	svc := &Service{Server: server.Config{Logger: logger, ReportRate: f.ReportRate, ReportBurst: f.ReportBurst,
		ReportAppRate: f.ReportAppRate, ReportAppBurst: f.ReportAppBurst}}
	sc := &svc.Server
	if r := f.Reports; r != nil {
		svc.Limits.MaxRows, svc.Limits.MaxBytes = r.MaxRows, r.MaxBytes
		if svc.Limits.Retention, err = optDuration("reports.retention", r.Retention, 0); err != nil {
			return nil, err
		}
		if svc.Limits.EventRetention, err = optDuration("reports.event_retention", r.EventRetention, 0); err != nil {
			return nil, err
		}
	}
	if sc.RefreshInterval, err = optDuration("refresh_interval", f.RefreshInterval, time.Second); err != nil {
		return nil, err
	}
	if svc.Cert, sc.AdminClientCAs, err = f.tls(); err != nil {
		return nil, err
	}
	if sc.AdminCert, err = f.adminTLS(); err != nil {
		return nil, err
	}
	if f.Mirror != "" {
		if f.TransparencyLog != nil {
			return nil, errors.New("mirror: a static origin cannot serve the transparency log's proofs: use mirror or transparency_log, not both")
		}
		sc.Mirror = &mirror.Dir{Root: f.Mirror}
	}
	if f.UnpinPeriod != "" {
		d, err := optDuration("unpin_period", f.UnpinPeriod, check.DefaultUnpinPeriod)
		if err != nil {
			return nil, err
		}
		sc.UnpinPeriod = &d
	}
	if f.MetricsToken != "" {
		b, err := input.Read(f.MetricsToken, 4096)
		if err != nil {
			return nil, fmt.Errorf("metrics_token_file: %v", err)
		}
		if sc.MetricsToken = strings.TrimSpace(string(b)); sc.MetricsToken == "" {
			return nil, fmt.Errorf("metrics_token_file %s: empty", f.MetricsToken)
		}
	}
	for _, apply := range []func(*server.Config) error{f.PublishGate.apply, f.Resign.apply, f.Adoption.apply, f.Rotation.apply, f.TransparencyLog.apply, f.Devices.apply} {
		if err := apply(sc); err != nil {
			return nil, err
		}
	}
	if svc.Monitor, err = f.Monitor.config(); err != nil {
		return nil, err
	}
	if sc.Rotation.AbortOnReportSpike && (svc.Monitor == nil || svc.Monitor.SpikeThreshold < 0) {
		return nil, errors.New("rotation.abort_on_report_spike needs the monitor's report_spike rule: monitor.enabled and monitor.report_spike.threshold not negative")
	}
	logAudit, err := f.TransparencyLog.logAudit()
	if err != nil {
		return nil, err
	}
	if svc.Monitor != nil {
		svc.Monitor.LogAudit = logAudit
		if sch := sc.Rotation.Schedule; sch != nil {
			svc.Monitor.ACME = sch.Status
		}
	} else if sc.Rotation.Schedule != nil {
		logger.Warn("rotation.acme_schedule runs with the monitor off: PinsetACMEFailing and PinsetRenewalOverdue are not sent; " +
			"only the pinset_acme_* metrics say when renewals fail")
	}
	if svc.Console, err = f.Console.settings(); err != nil {
		return nil, err
	}
	return svc, nil
}

func (f *File) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if f.LogLevel != "" {
		if err := level.UnmarshalText([]byte(f.LogLevel)); err != nil {
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", f.LogLevel)
		}
	}
	switch f.LogFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", f.LogFormat)
}

// tls loads the certificate and the admin client CAs.
func (f *File) tls() (*tls.Certificate, *x509.CertPool, error) {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	var cert *tls.Certificate
	if f.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", f.TLSCert, err)
		}
		cert = &c
	}
	if f.AdminClientCA == "" {
		return cert, nil, nil
	}
	if f.AdminListen == "" && f.TLSCert == "" {
		return nil, nil, ErrAdminCANeedsTLS
	}
	if f.AdminListen != "" && f.AdminTLSCert == "" {
		return nil, nil, ErrAdminListenCANeedsTLS
	}
	b, err := os.ReadFile(f.AdminClientCA)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, nil, fmt.Errorf("%s: no PEM certificate found", f.AdminClientCA)
	}
	return cert, pool, nil
}

func (g *Gate) apply(sc *server.Config) error {
	if g == nil || (g.Enabled != nil && !*g.Enabled) {
		return nil
	}
	opts := check.Options{DefaultPort: g.Port, Strict: g.Strict}
	var err error
	if opts.Timeout, err = optDuration("publish_gate.timeout", g.Timeout, 0); err != nil {
		return err
	}
	if opts.Resolve, err = probe.ParseResolve(g.Resolve); err != nil {
		return fmt.Errorf("publish_gate.resolve: %v", err)
	}
	if g.Port < 0 || g.Port > 65535 {
		return fmt.Errorf("publish_gate.port %d: not a port number", g.Port)
	}
	if g.CAFile != "" {
		// Added to the system roots, as with 'pinset check --cafile'.
		if opts.RootCAs, err = input.LoadCAs("publish_gate.cafile", g.CAFile); err != nil {
			return err
		}
	}
	sc.PublishGate = check.ManifestGate(opts)
	return nil
}

func (r *Resign) apply(sc *server.Config) error {
	if r == nil {
		return nil
	}
	if r.Key == "" {
		return errors.New("resign.key: the pins-role private key file is required")
	}
	rc := &server.ResignConfig{Apps: r.Apps}
	var err error
	if rc.Signer, err = readKey("resign.key", r.Key, r.PassphraseFile); err != nil {
		return err
	}
	if rc.Before, err = optDuration("resign.before", r.Before, 0); err != nil {
		return err
	}
	if rc.Lifetime, err = optDuration("resign.lifetime", r.Lifetime, 0); err != nil {
		return err
	}
	if rc.Interval, err = optDuration("resign.interval", r.Interval, 0); err != nil {
		return err
	}
	sc.Resign = rc
	return nil
}

// Adoption is the adoption section of the serve configuration.
type Adoption struct {
	Window        string `yaml:"window"`         // default 7d
	FlushInterval string `yaml:"flush_interval"` // default 1s
	Off           bool   `yaml:"off"`
	// MaxInstallsPerNetwork caps the installs one client network (IPv4
	// /24, IPv6 /64) has counted per window; default 64
	// (server.DefaultMaxInstallsPerNetwork, docs/rotation.md "Forged
	// telemetry").
	MaxInstallsPerNetwork int `yaml:"max_installs_per_network"`
}

func (c *Adoption) apply(sc *server.Config) error {
	if c == nil {
		return nil
	}
	var err error
	if sc.Adoption.Window, err = optDuration("adoption.window", c.Window, 0); err != nil {
		return err
	}
	if sc.Adoption.FlushInterval, err = optDuration("adoption.flush_interval", c.FlushInterval, 0); err != nil {
		return err
	}
	sc.Adoption.Off = c.Off
	if c.MaxInstallsPerNetwork < 0 {
		return fmt.Errorf("adoption.max_installs_per_network %d: want a positive number (0: the default %d)", c.MaxInstallsPerNetwork, server.DefaultMaxInstallsPerNetwork)
	}
	sc.Adoption.MaxInstallsPerNetwork = c.MaxInstallsPerNetwork
	return nil
}

// Rotation is the rotation section of the serve configuration.
type Rotation struct {
	// Deploy is the command (program and arguments, no shell) that makes
	// every address of a host serve a key; it gets PINSET_PLAN,
	// PINSET_APP, PINSET_HOST, PINSET_PIN and PINSET_ACTION (switch or
	// rollback) in its environment and must be idempotent.
	Deploy        []string `yaml:"deploy"`
	DeployTimeout string   `yaml:"deploy_timeout"` // default 10m
	// Key signs the manifests plans need (pins threshold 1); default:
	// resign.key.
	Key            string `yaml:"key"`
	PassphraseFile string `yaml:"passphrase_file"`
	Interval       string `yaml:"interval"` // default 1m
	// SampleInterval is the least time between two stored samples of a
	// plan's adoption (the console's curve); default 10m.
	SampleInterval string   `yaml:"sample_interval"`
	CAFile         string   `yaml:"cafile"` // verification after the switch
	Resolve        []string `yaml:"resolve"`
	Port           int      `yaml:"port"`
	Timeout        string   `yaml:"timeout"`
	// Targets are hosts whose switch serve performs itself: the next key
	// from the key ring, its certificate over ACME, deploy.Deploy.
	Targets []Target `yaml:"targets"`
	// AbortOnReportSpike aborts a plan (switching or verifying) when the
	// monitor's report-spike rule fires for its host after the switch;
	// the alert PinsetRotationReportSpike fires either way. It needs the
	// monitor with its report_spike rule on.
	AbortOnReportSpike bool `yaml:"abort_on_report_spike"`
	// ACMESchedule makes serve renew the targets' certificates and get
	// their next keys' certificates ahead of the switch (package renew).
	ACMESchedule *ACMESchedule `yaml:"acme_schedule"`
}

// maxDeployOutput caps the deploy command's output kept for the error.
const maxDeployOutput = 4096

func (c *Rotation) apply(sc *server.Config) error {
	if c == nil {
		return nil
	}
	rc := &sc.Rotation
	rc.AbortOnReportSpike = c.AbortOnReportSpike
	var err error
	if rc.Interval, err = optDuration("rotation.interval", c.Interval, 0); err != nil {
		return err
	}
	if rc.SampleInterval, err = optDuration("rotation.sample_interval", c.SampleInterval, 0); err != nil {
		return err
	}
	if c.Key != "" {
		if rc.Signer, err = readKey("rotation.key", c.Key, c.PassphraseFile); err != nil {
			return err
		}
	}
	if rc.Check.Timeout, err = optDuration("rotation.timeout", c.Timeout, 0); err != nil {
		return err
	}
	if rc.Check.Resolve, err = probe.ParseResolve(c.Resolve); err != nil {
		return fmt.Errorf("rotation.resolve: %v", err)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("rotation.port %d: not a port number", c.Port)
	}
	rc.Check.DefaultPort = c.Port
	if c.CAFile != "" {
		if rc.Check.RootCAs, err = input.LoadCAs("rotation.cafile", c.CAFile); err != nil {
			return err
		}
	}
	if err := c.applyTargets(rc); err != nil {
		return err
	}
	if err := c.ACMESchedule.apply(sc.Logger, rc); err != nil {
		return err
	}
	if len(c.Deploy) > 0 {
		timeout, err := optDuration("rotation.deploy_timeout", c.DeployTimeout, 10*time.Minute)
		if err != nil {
			return err
		}
		argv := append([]string(nil), c.Deploy...)
		rc.Deploy = func(ctx context.Context, d server.DeployRequest) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PINSET_PLAN="+strconv.FormatInt(d.PlanID, 10), "PINSET_APP="+d.App,
				"PINSET_HOST="+d.Host, "PINSET_PIN="+d.Pin.String(), "PINSET_ACTION="+d.Action)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				msg := out.Bytes()
				if len(msg) > maxDeployOutput {
					msg = msg[len(msg)-maxDeployOutput:]
				}
				return fmt.Errorf("deploy command %s: %v: %s", argv[0], err, bytes.TrimSpace(msg))
			}
			return nil
		}
	} else if c.DeployTimeout != "" {
		return errors.New("rotation.deploy_timeout without rotation.deploy")
	}
	return nil
}

// Monitor is the "monitor" section of the configuration. See
// docs/monitoring.md.
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
type Monitor struct {
	Enabled       *bool        `yaml:"enabled"`
	Interval      string       `yaml:"interval"`
	Timeout       string       `yaml:"timeout"`
	ExpiryWarning string       `yaml:"expiry_warning"`
	Port          int          `yaml:"port"`
	Concurrency   int          `yaml:"concurrency"`
	CAFile        string       `yaml:"cafile"`
	Resolve       []string     `yaml:"resolve"`
	ReportSpike   *Spike       `yaml:"report_spike"`
	ExternalURL   string       `yaml:"external_url"`
	Alerts        []AlertRoute `yaml:"alerts"`
}

// Spike is the report-spike rule.
type Spike struct {
	Threshold int    `yaml:"threshold"`
	Window    string `yaml:"window"`
}

// AlertRoute is one alert destination: exactly one of its URLs.
type AlertRoute struct {
	Slack          string `yaml:"slack"`
	Alertmanager   string `yaml:"alertmanager"`
	Webhook        string `yaml:"webhook"`
	RepeatInterval string `yaml:"repeat_interval"`
}

// config turns the section into monitor.Config (without the store,
// logger, clock and manifest source, which the caller supplies); nil when
// the monitor is disabled. No section means the defaults.
func (mc *Monitor) config() (*monitor.Config, error) {
	if mc == nil {
		mc = &Monitor{}
	}
	if mc.Enabled != nil && !*mc.Enabled {
		return nil, nil
	}
	c := &monitor.Config{}
	var err error
	if c.Interval, err = optDuration("monitor.interval", mc.Interval, monitor.DefaultInterval); err != nil {
		return nil, err
	}
	if c.Interval < 10*time.Second {
		return nil, fmt.Errorf("monitor.interval %s: at least 10s", c.Interval)
	}
	if c.Check, err = mc.checkOptions(); err != nil {
		return nil, err
	}
	if s := mc.ReportSpike; s != nil {
		c.SpikeThreshold = s.Threshold
		if c.SpikeWindow, err = optDuration("monitor.report_spike.window", s.Window, monitor.DefaultSpikeWindow); err != nil {
			return nil, err
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
			return nil, fmt.Errorf("monitor.alerts[%d]: give exactly one of slack, alertmanager or webhook", i)
		}
		if r.RepeatInterval, err = optDuration(fmt.Sprintf("monitor.alerts[%d].repeat_interval", i), a.RepeatInterval, 0); err != nil {
			return nil, err
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

// checkOptions are the probe settings of the monitor's rounds.
func (mc *Monitor) checkOptions() (check.Options, error) {
	o := check.Options{DefaultPort: mc.Port, Concurrency: mc.Concurrency}
	var err error
	if o.DefaultPort == 0 {
		o.DefaultPort = check.DefaultPort
	}
	if o.DefaultPort < 1 || o.DefaultPort > 65535 {
		return o, fmt.Errorf("monitor.port %d: not a port number from 1 to 65535", o.DefaultPort)
	}
	if o.Timeout, err = optDuration("monitor.timeout", mc.Timeout, check.DefaultTimeout); err != nil {
		return o, err
	}
	if o.ExpiryWarning, err = optDuration("monitor.expiry_warning", mc.ExpiryWarning, check.DefaultExpiryWarning); err != nil {
		return o, err
	}
	if o.Resolve, err = probe.ParseResolve(mc.Resolve); err != nil {
		return o, fmt.Errorf("monitor.resolve: %v", err)
	}
	if mc.CAFile != "" {
		if o.RootCAs, err = input.LoadCAs("monitor.cafile", mc.CAFile); err != nil {
			return o, err
		}
	}
	return o, nil
}
