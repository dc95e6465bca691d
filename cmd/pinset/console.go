package main

import (
	"net/http"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/console"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
)

// wireConsole serves the web console under /console/ (package console)
// with its configuration (nil: off, as serveconfig gives for enabled:
// false); alerts, from wireMonitor, are the alerts firing now (nil without
// a monitor).
func wireConsole(cc *serveconfig.ConsoleSettings, sc *server.Config, alerts func() []alert.Alert) {
	if cc == nil {
		return
	}
	life := cc.SessionLifetime
	sc.Console = func(s *server.Server) (http.Handler, error) {
		return console.New(console.Config{Server: s, Alerts: alerts, SessionLifetime: life})
	}
}
