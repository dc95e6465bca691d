package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/edge"
)

func init() { addCommand(newEdgeCmd) }

// edgeHelp is the long help of `newEdgeCmd`.
const edgeHelp = `pinset edge is a reverse proxy in front of the app's API: pinning protects
the channel, the edge decides who may call the backend (docs/edge.md).

Per route (longest path prefix) it can require a device certificate issued
by the device CA and not revoked by its CRL (refreshed periodically), a
JWT access token from the issuer's JWKS (RS256, ES256, EdDSA; issuer,
audience, exp/nbf, scopes), and rate limits per device, user and client
address (IPv6 per /64), in memory or in Redis shared by every instance.
The upstream gets Pinset-Edge-Device, Pinset-Edge-User and
Pinset-Edge-Auth (an HMAC under identity.key_file); clients can never send
them. SIGHUP reloads the TLS certificate and the CRL at once; they are also
reloaded every tls.reload_every and devices.refresh.

The configuration file (YAML; unknown keys are errors):

  listen: 0.0.0.0:8443
  metrics_listen: 127.0.0.1:9101      # /metrics (Prometheus) here only
  tls: {cert_file: /etc/edge/tls.pem, key_file: /etc/edge/tls.key}
  identity: {key_file: /etc/edge/identity.key}   # mode 0600, 32+ bytes
  devices:
    ca_file: /etc/edge/device-ca.pem
    crl: https://pins.example.com/v1/devices/crl  # or a file; DER or PEM
    refresh: 5m
  tokens:
    jwks_url: https://id.example.com/.well-known/jwks.json
    issuer: https://id.example.com/
    audience: api
  rate_limits:
    store: redis                      # or memory (one instance)
    redis: {address: 10.0.0.5:6379, password_file: /etc/edge/redis.pw}
    user: {requests: 600, per: 1m}
    address: {requests: 1200, per: 1m}
  routes:
    - {name: api, path: /v1/, upstreams: ["http://10.0.0.7:8080"], token: true, scopes: [api]}
    - {name: devices, path: /v1/sync, upstreams: ["http://10.0.0.8:8080"], mtls: true, token: true}`

func newEdgeCmd() *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "edge --config edge.yaml",
		Short: "Run the reverse proxy that authenticates devices and users in front of the API",
		Long:  edgeHelp,
		Example: `  pinset edge --config /etc/pinset/edge.yaml
  kill -HUP $(pidof pinset)    # reload the certificate and the CRL now`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEdge(cmd.Context(), config)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the edge's YAML configuration (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// runEdge serves until SIGINT or SIGTERM; SIGHUP reloads.
func runEdge(ctx context.Context, config string) error {
	f, err := edge.Load(config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := f.Build(ctx, edge.Options{})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	hup := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				select {
				case hup <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return srv.Serve(ctx, ln, hup)
}
