package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/trust"
)

// The monitor of `pinset serve`: its configuration is the "monitor"
// section of the serve configuration (package serveconfig, see
// docs/monitoring.md); here it is wired into the server.

// wireMonitor builds the monitor from its configuration (nil: none, as
// serveconfig gives for enabled: false), registers its metrics on the
// server's registry, runs it as a server task and adds its admin endpoints
// (/v1/admin/monitor/results and /alerts). current, when set, is where it
// reads each app's current manifest (the server's document cache, so the
// service decodes it once); nil means the store. It returns the monitor,
// for the console's alerts page (nil without one). The transparency log's
// audit (transparency_log.audit) comes with mc.
func wireMonitor(mc *monitor.Config, sc *server.Config, current func(ctx context.Context, app string) (*trust.Manifest, error)) (*monitor.Monitor, error) {
	if mc == nil {
		return nil, nil
	}
	mcfg := *mc
	mcfg.Logger = sc.Logger
	mcfg.Now = sc.Now
	mcfg.Manifests = current
	m := monitor.New(sc.Store, mcfg)
	if sc.Registry == nil {
		sc.Registry = prometheus.NewRegistry()
	}
	if err := sc.Registry.Register(m.Collector()); err != nil {
		return nil, fmt.Errorf("monitor: metrics: %w", err)
	}
	sc.Tasks = append(sc.Tasks, m.Run)
	sc.Rotation.Spikes = m // a plan's report spike after its switch: the monitor's rule and alert
	prev := sc.Routes
	sc.Routes = func(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
		if prev != nil {
			prev(mux, admin)
		}
		m.Routes(mux, admin)
	}
	return m, nil
}
