package main

import (
	"pinset.dev/pinset/console"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
)

// wireConsole serves the web console under /console/ (package console)
// with its configuration (nil: off, as serveconfig gives for enabled:
// false); mon, from wireMonitor, raises the alerts it shows (nil without
// a monitor).
func wireConsole(cc *serveconfig.ConsoleSettings, sc *server.Config, mon *monitor.Monitor) {
	if cc == nil {
		return
	}
	cfg := console.Config{SessionLifetime: cc.SessionLifetime}
	if mon != nil {
		cfg.Alerts, cfg.Resolved = mon.Alerts, mon.ResolvedAlerts
	}
	sc.Console = console.Mount(cfg)
}
