package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newServeCmd) }

// serveConfig is the strict configuration file of `pinset serve` (YAML or
// JSON; unknown keys are errors). Flags given on the command line win.
type serveConfig struct {
	Listen          string          `yaml:"listen"`
	MetricsListen   string          `yaml:"metrics_listen"`
	MetricsToken    string          `yaml:"metrics_token_file"` // a file holding the token
	Data            string          `yaml:"data"`
	Database        string          `yaml:"database"`
	TLSCert         string          `yaml:"tls_cert"`
	TLSKey          string          `yaml:"tls_key"`
	AdminClientCA   string          `yaml:"admin_client_ca"`
	LogFormat       string          `yaml:"log_format"` // text (default) or json
	LogLevel        string          `yaml:"log_level"`  // debug, info (default), warn, error
	RefreshInterval string          `yaml:"refresh_interval"`
	ReportRate      float64         `yaml:"report_rate"`
	ReportBurst     int             `yaml:"report_burst"`
	ReportAppRate   float64         `yaml:"report_app_rate"`
	ReportAppBurst  int             `yaml:"report_app_burst"`
	Reports         *reportsConfig  `yaml:"reports"`
	PublishGate     *gateConfig     `yaml:"publish_gate"`
	UnpinPeriod     string          `yaml:"unpin_period"`
	Resign          *resignConfig   `yaml:"resign"`
	Adoption        *adoptionConfig `yaml:"adoption"` // serve_rotate.go
	Rotation        *rotationConfig `yaml:"rotation"` // serve_rotate.go
	Monitor         *monitorConfig  `yaml:"monitor"`  // monitor.go
}

// reportsConfig bounds report storage per app (docs/reports.md).
type reportsConfig struct {
	MaxRows        int64  `yaml:"max_rows"`        // default 100000; -1: no limit
	MaxBytes       int64  `yaml:"max_bytes"`       // default 268435456 (256 MiB); -1: no limit
	Retention      string `yaml:"retention"`       // default 90d
	EventRetention string `yaml:"event_retention"` // default 7d
}

type gateConfig struct {
	Enabled *bool    `yaml:"enabled"` // default true
	CAFile  string   `yaml:"cafile"`
	Timeout string   `yaml:"timeout"`
	Resolve []string `yaml:"resolve"`
	Port    int      `yaml:"port"` // port of the manifests' hosts; default 443
	Strict  bool     `yaml:"strict"`
}

type resignConfig struct {
	Key            string   `yaml:"key"` // PEM private key of a pins-role key
	PassphraseFile string   `yaml:"passphrase_file"`
	Before         string   `yaml:"before"`   // re-sign when expiry is this close; default 7d
	Lifetime       string   `yaml:"lifetime"` // validity of re-signed manifests; default 30d
	Interval       string   `yaml:"interval"` // default 1h
	Apps           []string `yaml:"apps"`
}

func loadServeConfig(path string) (*serveConfig, error) {
	cfg := &serveConfig{}
	if path == "" {
		return cfg, nil
	}
	b, err := readInput(path, 1<<20)
	if err != nil {
		return nil, err
	}
	if err := decodeYAMLStrict(path, b, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func optDuration(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := parseDays(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return d, nil
}

func newServeCmd() *cobra.Command {
	var (
		configFile string
		flags      serveConfig
		gate       bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--data DIR] [--database URL] [--config FILE]",
		Short: "Run the pin service: publish roots and manifests, collect pin-failure reports",
		Long: `pinset serve runs the pin service apps refresh their pins from.

With no flags it listens on 127.0.0.1:8080 over plain HTTP (acceptable on
loopback, and behind a TLS-terminating proxy, because every document it
serves is signed) and keeps its state in SQLite in ./pinset-data. Several
processes can serve one PostgreSQL database (--database postgres://...).

Public endpoints (docs/api.md):
  GET  /v1/apps/{app}/root.json        latest signed root
  GET  /v1/apps/{app}/roots/{N}.json   root version N
  GET  /v1/apps/{app}/pins.json        current signed manifest
  POST /v1/reports, /v1/apps/{app}/reports   TrustKit, HPKP and pinset reports
Admin endpoints need a bearer token from 'pinset token new':
  PUT  /v1/admin/apps/{app}/root, /v1/admin/apps/{app}/pins   (or 'pinset publish')
  GET  /v1/admin/apps, /v1/admin/apps/{app}/reports
Operations: GET /metrics (Prometheus), /healthz, /readyz. The metrics name
every app id: restrict them with --metrics-listen (an internal or loopback
address, the only place /metrics is then served) and/or
--metrics-token-file. pinset serve warns at start when it serves plain HTTP,
or open metrics, on a non-loopback address.

Uploaded manifests pass the publish gate: the live hosts are probed and a
manifest that would make clients refuse a live address is refused (409)
unless the upload is forced. --publish-gate=false turns it off. The publish
answer carries the gate's summary: addresses checked, accepted, refused,
unverifiable (the chain does not verify against the gate's roots: add the
backend's private CA with cafile) or unreachable, each with its reason.
The publish_gate keys:

  publish_gate:
    enabled: true         # false: manifests are published unchecked (the answer says so)
    cafile: /etc/pinset/backend-ca.pem   # PEM roots added to the system roots
    port: 443             # port of the manifests' hosts
    resolve: [api.example.com:443:10.0.0.7]   # curl-style HOST:PORT:ADDR overrides
    strict: false         # true: refuse when any address is unverifiable or
                          # unreachable, or a host does not resolve
    timeout: 10s          # per address: connection and handshake

A manifest that stops pinning a host the current manifest enforces (drops
it, makes it report-only, narrows its pattern) is refused (409 unpin) even
with the publish gate off, unless the upload says force_unpin (logged at
WARN with the token's name, counted, and alerted by the monitor as
PinsetHostUnpinned). A host that every manifest has had report-only for
unpin_period (default 7d) may be dropped without force.

The configuration file (YAML or JSON) takes the flags' names with
underscores, and more; unknown keys are errors:

  listen: 0.0.0.0:8443
  metrics_listen: 127.0.0.1:9090               # /metrics here only
  metrics_token_file: /etc/pinset/metrics.token  # and only with this bearer token
  database: postgres://pinset@db.internal/pinset
  tls_cert: /etc/pinset/tls.crt
  tls_key: /etc/pinset/tls.key
  admin_client_ca: /etc/pinset/admin-ca.pem   # admin API needs client certificates
  log_format: json
  report_rate: 1          # reports per second per client address (IPv6: per /64)
  report_burst: 20
  report_app_rate: 20     # reports per second per app, all clients together
  report_app_burst: 200
  reports: {max_rows: 100000, max_bytes: 268435456, retention: 90d, event_retention: 7d}   # per app
  publish_gate: {enabled: true, strict: true, timeout: 10s}
  unpin_period: 7d        # report-only this long before a host may be dropped
  adoption: {window: 7d, flush_interval: 1s}   # adoption telemetry; off: true disables
  rotation:               # key rotation plans (pinset rotate, docs/rotation.md)
    deploy: [/usr/local/bin/deploy-key]   # PINSET_HOST, PINSET_PIN, PINSET_ACTION=switch|rollback
    key: /etc/pinset/pins.key             # signs plan manifests (threshold 1); default resign.key
    interval: 1m
    cafile: /etc/pinset/roots.pem         # verification after the switch, as for publish_gate
  resign:                 # online re-signing (pins role threshold 1 only)
    key: /etc/pinset/pins.key
    before: 7d
    lifetime: 30d

Examples:
  pinset serve
  pinset serve --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key
  pinset serve --database postgres://pinset@127.0.0.1/pinset --config pinset.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadServeConfig(configFile)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			override := func(name string, dst *string, v string) {
				if f.Changed(name) || *dst == "" {
					*dst = v
				}
			}
			override("listen", &cfg.Listen, flags.Listen)
			override("metrics-listen", &cfg.MetricsListen, flags.MetricsListen)
			override("metrics-token-file", &cfg.MetricsToken, flags.MetricsToken)
			override("data", &cfg.Data, flags.Data)
			override("database", &cfg.Database, flags.Database)
			override("tls-cert", &cfg.TLSCert, flags.TLSCert)
			override("tls-key", &cfg.TLSKey, flags.TLSKey)
			override("admin-client-ca", &cfg.AdminClientCA, flags.AdminClientCA)
			override("log-format", &cfg.LogFormat, flags.LogFormat)
			override("log-level", &cfg.LogLevel, flags.LogLevel)
			if f.Changed("publish-gate") || cfg.PublishGate == nil {
				if cfg.PublishGate == nil {
					cfg.PublishGate = &gateConfig{}
				}
				cfg.PublishGate.Enabled = &gate
			}
			return runServe(cmd.Context(), cmd.ErrOrStderr(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "strict YAML or JSON configuration `FILE`")
	f.StringVar(&flags.Listen, "listen", "127.0.0.1:8080", "`ADDR`ess to listen on")
	f.StringVar(&flags.MetricsListen, "metrics-listen", "", "serve /metrics on this `ADDR`ess only (plain HTTP), not on --listen")
	f.StringVar(&flags.MetricsToken, "metrics-token-file", "", "require Authorization: Bearer with the token in this `FILE` on /metrics")
	f.StringVar(&flags.Data, "data", "./pinset-data", "data `DIR`ectory (the SQLite database)")
	f.StringVar(&flags.Database, "database", "", "database `URL`: postgres://... (default: SQLite in the data directory)")
	f.StringVar(&flags.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `FILE`")
	f.StringVar(&flags.TLSKey, "tls-key", "", "PEM private key `FILE` of --tls-cert")
	f.StringVar(&flags.AdminClientCA, "admin-client-ca", "", "require admin clients to present a certificate from the CAs in this PEM `FILE` (needs TLS)")
	f.StringVar(&flags.LogFormat, "log-format", "text", "log `FORMAT`: text or json")
	f.StringVar(&flags.LogLevel, "log-level", "info", "least severe `LEVEL` logged: debug, info, warn or error")
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&gate, "publish-gate", true, "probe the live hosts before publishing a manifest")
	return cmd
}

func runServe(ctx context.Context, stderr io.Writer, cfg *serveConfig) error {
	var level slog.Level
	if cfg.LogLevel != "" {
		if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
			return fmt.Errorf("log level %q: use debug, info, warn or error", cfg.LogLevel)
		}
	}
	var logger *slog.Logger
	switch cfg.LogFormat {
	case "", "text":
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	default:
		return fmt.Errorf("log format %q: use text or json", cfg.LogFormat)
	}
	sc := server.Config{Logger: logger, ReportRate: cfg.ReportRate, ReportBurst: cfg.ReportBurst,
		ReportAppRate: cfg.ReportAppRate, ReportAppBurst: cfg.ReportAppBurst}
	var err error
	var limits store.ReportLimits
	if r := cfg.Reports; r != nil {
		limits.MaxRows, limits.MaxBytes = r.MaxRows, r.MaxBytes
		if limits.Retention, err = optDuration("reports.retention", r.Retention, 0); err != nil {
			return err
		}
		if limits.EventRetention, err = optDuration("reports.event_retention", r.EventRetention, 0); err != nil {
			return err
		}
	}
	if sc.RefreshInterval, err = optDuration("refresh_interval", cfg.RefreshInterval, time.Second); err != nil {
		return err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var cert tls.Certificate
	if cfg.TLSCert != "" {
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("%s: %v", cfg.TLSCert, err)
		}
	}
	if cfg.AdminClientCA != "" {
		if cfg.TLSCert == "" {
			return errorWithHint(errors.New("--admin-client-ca needs TLS"), "add --tls-cert and --tls-key")
		}
		b, err := os.ReadFile(cfg.AdminClientCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s: no PEM certificate found", cfg.AdminClientCA)
		}
		sc.AdminClientCAs = pool
	}
	if cfg.UnpinPeriod != "" {
		d, err := optDuration("unpin_period", cfg.UnpinPeriod, check.DefaultUnpinPeriod)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("unpin_period %s: not a duration", cfg.UnpinPeriod)
		}
		sc.UnpinPeriod = &d
	}
	if cfg.MetricsToken != "" {
		b, err := readInput(cfg.MetricsToken, 4096)
		if err != nil {
			return fmt.Errorf("metrics_token_file: %v", err)
		}
		if sc.MetricsToken = strings.TrimSpace(string(b)); sc.MetricsToken == "" {
			return fmt.Errorf("metrics_token_file %s: empty", cfg.MetricsToken)
		}
	}
	if g := cfg.PublishGate; g != nil && (g.Enabled == nil || *g.Enabled) {
		opts := check.Options{}
		if opts.Timeout, err = optDuration("publish_gate.timeout", g.Timeout, 0); err != nil {
			return err
		}
		if opts.Resolve, err = probe.ParseResolve(g.Resolve); err != nil {
			return fmt.Errorf("publish_gate.resolve: %v", err)
		}
		if g.Port < 0 || g.Port > 65535 {
			return fmt.Errorf("publish_gate.port %d: not a port number", g.Port)
		}
		opts.DefaultPort = g.Port
		opts.Strict = g.Strict
		if g.CAFile != "" {
			// Added to the system roots, as with 'pinset check --cafile'.
			if opts.RootCAs, err = loadCAs("publish_gate.cafile", g.CAFile); err != nil {
				return err
			}
		}
		sc.PublishGate = check.ManifestGate(opts)
	}
	if r := cfg.Resign; r != nil {
		rc := &server.ResignConfig{Apps: r.Apps}
		if r.Key == "" {
			return errors.New("resign.key: the pins-role private key file is required")
		}
		kb, err := readInput(r.Key, 64<<10)
		if err != nil {
			return fmt.Errorf("resign.key: %w", err)
		}
		var pass []byte
		if r.PassphraseFile != "" {
			// The first line, as --passphrase-file of key new and sign.
			if pass, err = trustReadPassphrase(r.PassphraseFile); err != nil {
				return fmt.Errorf("resign.passphrase_file: %w", err)
			}
		}
		if rc.Signer, err = trust.ParsePrivateKeyPEM(kb, pass); err != nil {
			return fmt.Errorf("%s: %v", r.Key, err)
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
	}
	if err := cfg.Adoption.apply(&sc); err != nil {
		return err
	}
	if err := cfg.Rotation.apply(&sc); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bind the ports first: a bad or busy address leaves nothing behind
	// (no data directory, no database).
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %v", err)
	}
	defer ln.Close()
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics_listen: %v", err)
		}
		defer mln.Close()
		sc.MetricsListener = mln
	}
	st, err := store.Open(ctx, cfg.Database, cfg.Data, store.WithReportLimits(limits))
	if err != nil {
		return err
	}
	defer st.Close()
	sc.Store = st
	sc.Registry = prometheus.NewRegistry()
	if err := sc.Registry.Register(store.Collector(st)); err != nil {
		return err
	}
	// The monitor reads current manifests from the server's document
	// cache; its rounds start in Serve, after New has set srv.
	var srv *server.Server
	current := func(ctx context.Context, app string) (*trust.Manifest, error) { return srv.CurrentManifest(ctx, app) }
	if err := wireMonitor(cfg.Monitor, &sc, current); err != nil {
		return err
	}
	srv, err = server.New(sc)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		tlsConfig = srv.TLSConfig(cert)
	}
	return srv.Serve(ctx, ln, tlsConfig)
}

// openStoreFlags is shared by commands that work on the service's store
// directly (pinset token).
type storeFlags struct {
	data, database, config string
}

func (sf *storeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.data, "data", "./pinset-data", "data `DIR`ectory of 'pinset serve' (SQLite)")
	f.StringVar(&sf.database, "database", "", "database `URL` of 'pinset serve' (postgres://...)")
	f.StringVar(&sf.config, "config", "", "read data and database from this 'pinset serve' configuration `FILE`")
}

func (sf *storeFlags) open(cmd *cobra.Command) (store.Store, error) {
	cfg, err := loadServeConfig(sf.config)
	if err != nil {
		return nil, err
	}
	if cmd.Flags().Changed("data") || cfg.Data == "" {
		cfg.Data = sf.data
	}
	if cmd.Flags().Changed("database") || cfg.Database == "" {
		cfg.Database = sf.database
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return store.Open(ctx, cfg.Database, cfg.Data)
}
