package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newServeCmd) }

// serveHelp is the long help of `newServeCmd`.
const serveHelp = `pinset serve runs the pin service apps refresh their pins from.

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
  admin_listen: 10.0.0.5:9443                 # admin API and console here only, not on listen
  admin_tls_cert: /etc/pinset/admin.crt       # its TLS (with admin_tls_key); client CA as above
  log_format: json
  report_rate: 1          # reports per second per client address (IPv6: per /64)
  report_burst: 20
  report_app_rate: 20     # reports per second per app, all clients together
  report_app_burst: 200
  reports: {max_rows: 100000, max_bytes: 268435456, retention: 90d, event_retention: 7d}   # per app
  publish_gate: {enabled: true, strict: true, timeout: 10s}
  unpin_period: 7d        # report-only this long before a host may be dropped
  adoption:               # adoption telemetry; off: true disables it
    window: 7d
    flush_interval: 1s
    max_installs_per_network: 64   # installs counted per client network (forged telemetry)
  rotation:               # key rotation plans (pinset rotate, docs/rotation.md)
    deploy: [/usr/local/bin/deploy-key]   # PINSET_HOST, PINSET_PIN, PINSET_ACTION=switch|rollback
    key: /etc/pinset/pins.key             # signs plan manifests (threshold 1); default resign.key
    interval: 1m
    abort_on_report_spike: true           # abort on a report spike after the switch (monitor)
    sample_interval: 10m                  # the adoption curve: a sample per plan at most this often
    cafile: /etc/pinset/roots.pem         # verification after the switch, as for publish_gate
    targets:                              # instead of deploy, per host: key ring + ACME + deploy
      - host: api.example.com             # the plan's host pattern (a concrete name)
        cert_file: /etc/nginx/tls/api.pem
        key_file: /etc/nginx/tls/api.key
        reload: [nginx, -s, reload]
        key_ring: /etc/pinset/ring        # DIR/HOST/<hex pin>.key (pinset key new --tls --ring)
        settle: 15s
        acme:                             # or dns01_hook: CMD; also ca_file, profile, timeout
          directory: https://acme-v02.api.letsencrypt.org/directory
          account_key: /etc/pinset/acme.key
          agree_tos: true
          http01_listen: ":80"
    acme_schedule:                        # serve renews the targets' certificates itself (ARI or
      interval: 1m                        # two thirds), keeping the key, and gets each next key's
      failing_after: 3                    # certificate ahead of its switch; PinsetACMEFailing after
      retry_min: 1m                       # 3 failures in a row, backoff 1m doubling up to retry_max
      retry_max: 6h
      overdue_after: 1h                   # PinsetRenewalOverdue this long past the renewal time
  resign:                 # online re-signing (pins role threshold 1 only)
    key: /etc/pinset/pins.key
    before: 7d
    lifetime: 30d
  devices:                # device certificates for mutual TLS (docs/devices.md)
    ca_cert: /etc/pinset/device-ca.pem    # pinset device ca new
    ca_key: /etc/pinset/device-ca.key
    lifetime: 7d
  mirror: /srv/pins       # static origin: every publication written under
                          # v1/apps/APP/ (roots first, pins.json last)

Examples:
  pinset serve
  pinset serve --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key
  pinset serve --database postgres://pinset@127.0.0.1/pinset --config pinset.yaml
  pinset serve --mirror /srv/pins     # nginx or a CDN serves /srv/pins`

func newServeCmd() *cobra.Command {
	var (
		configFile string
		flags      serveconfig.File
		gate       bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--data DIR] [--database URL] [--config FILE]",
		Short: "Run the pin service: publish roots and manifests, collect pin-failure reports",
		Long:  serveHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := serveconfig.Load(configFile)
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
			override("mirror", &cfg.Mirror, flags.Mirror)
			if f.Changed("publish-gate") || cfg.PublishGate == nil {
				if cfg.PublishGate == nil {
					cfg.PublishGate = &serveconfig.Gate{}
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
	serveMoreFlags(cmd, &flags)
	f.BoolVar(&gate, "publish-gate", true, "probe the live hosts before publishing a manifest")
	return cmd
}

// runServe builds the service from its configuration (package
// serveconfig validates all of it first), binds the ports, opens the store,
// wires the monitor and serves until ctx ends or a signal comes.
func runServe(ctx context.Context, stderr io.Writer, cfg *serveconfig.File) error {
	svc, err := cfg.Build(stderr)
	if errors.Is(err, serveconfig.ErrAdminCANeedsTLS) {
		return errorWithHint(err, "add --tls-cert and --tls-key")
	}
	if err != nil {
		return err
	}
	sc := svc.Server
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
	if sc.AdminListener, err = listenAdmin(ctx, cfg.AdminListen); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Database, cfg.Data, store.WithReportLimits(svc.Limits))
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
	mon, err := wireMonitor(svc.Monitor, &sc, current)
	if err != nil {
		return err
	}
	wireConsole(svc.Console, &sc, mon)
	if srv, err = server.New(sc); err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if svc.Cert != nil {
		tlsConfig = srv.TLSConfig(*svc.Cert)
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

// open opens (or creates) the store the flags name (tokenOpenStore).
func (sf *storeFlags) open(cmd *cobra.Command) (store.Store, error) {
	return tokenOpenStore(cmd, sf, true)
}
