package main

import (
	"fmt"

	"pinset.dev/pinset/server"
)

// adoptionConfig is the adoption section of the serve configuration.
type adoptionConfig struct {
	Window        string `yaml:"window"`         // default 7d
	FlushInterval string `yaml:"flush_interval"` // default 1s
	Off           bool   `yaml:"off"`
}

func (c *adoptionConfig) apply(sc *server.Config) error {
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
	if sc.Adoption.Window < 0 || sc.Adoption.FlushInterval < 0 {
		return fmt.Errorf("adoption: durations must be positive")
	}
	sc.Adoption.Off = c.Off
	return nil
}
