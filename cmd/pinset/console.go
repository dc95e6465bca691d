package main

import (
	"net/http"

	"pinset.dev/pinset/console"
	"pinset.dev/pinset/server"
)

// consoleConfig is the console section of the serve configuration.
type consoleConfig struct {
	Enabled         *bool  `yaml:"enabled"`          // default true
	SessionLifetime string `yaml:"session_lifetime"` // default 8h
}

func init() { serveHooks = append(serveHooks, consoleServeHook) }

// consoleServeHook serves the web console under /console/ (package
// console) unless the configuration turns it off.
func consoleServeHook(cfg *serveConfig, sc *server.Config) error {
	cc := cfg.Console
	if cc == nil {
		cc = &consoleConfig{}
	}
	if cc.Enabled != nil && !*cc.Enabled {
		return nil
	}
	life, err := optDuration("console.session_lifetime", cc.SessionLifetime, 0)
	if err != nil {
		return err
	}
	sc.Console = func(s *server.Server) (http.Handler, error) {
		// Built by server.New, after every hook: the monitor's hook has
		// set cfg.alerts by then when a monitor runs.
		return console.New(console.Config{Server: s, Alerts: cfg.alerts, SessionLifetime: life})
	}
	return nil
}
