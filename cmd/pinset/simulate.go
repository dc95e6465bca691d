package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/fleet"
	"pinset.dev/pinset/internal/atomicfile"
)

func init() { addCommand(newSimulateCmd) }

// simulateHelp is the long help of `newSimulateCmd`.
const simulateHelp = `Simulate a fleet of installed apps through one key rotation, hour by hour:
sessions, absences, uninstalls, app updates bundling manifests, fetch failures
and outages; the SDK's refresh schedule (client.Schedule) and verifier
(trust.State); the rotation plan (rotate.Decide) fed by the adoption the
service would measure; a request refused under the pins held refreshes (the
refresh made again after a failed fetch, up to four times) and retries once,
as the SDK's self-heal does (client.Schedule.HealAllowed and HealRetry;
--heal off to compare). It prints the adoption of the next pin, the time to
50, 90, 99 and 99.9 % of installs, and the bricked installs (an install whose
request its pins refuse, even after the self-heal) with their causes.

The configuration (YAML, strictly decoded: unknown keys are errors) starts
from the defaults documented in docs/rotation.md; flags override it.`

// simulateOptions are the flags of 'pinset simulate'.
type simulateOptions struct {
	configFile, gate, heal, holdDown, refresh, plot string
	installs, days                                  int
	seed                                            uint64
	threshold                                       float64
	asJSON                                          bool
}

func newSimulateCmd() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate [--config FILE.yaml] [flags]",
		Short: "Simulate a key rotation over a fleet of installs: adoption, and who would be refused",
		Long:  simulateHelp,
		Example: `  pinset simulate --installs 1000000 --days 90 --json
  pinset simulate --gate off --plot rotation.svg
  pinset simulate --heal off --days 120
  pinset simulate --config fleet.yaml --hold-down 14d --threshold 0.999`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "YAML configuration of the fleet and plan (see docs/rotation.md)")
	f.IntVar(&o.installs, "installs", 0, "number of installs (default 100000)")
	f.IntVar(&o.days, "days", 0, "simulated days (default 90)")
	f.Uint64Var(&o.seed, "seed", 1, "random seed (same seed, same result)")
	f.StringVar(&o.gate, "gate", "on", "on: switch when adoption and hold-down allow; off: switch one day after the announcement")
	f.StringVar(&o.heal, "heal", "on", "on: a request refused under the pins held refreshes (again after a failed fetch) and retries once (the SDK's self-heal); off: none")
	f.Float64Var(&o.threshold, "threshold", 0.99, "fraction of active installs holding the next pin before the switch")
	f.StringVar(&o.holdDown, "hold-down", "7d", "least time between announcement and switch")
	f.StringVar(&o.refresh, "refresh-interval", "1h", "the SDK's refresh interval")
	f.BoolVar(&o.asJSON, "json", false, "print the whole result as JSON (hourly curves included)")
	f.StringVar(&o.plot, "plot", "", "write an SVG of adoption and bricked installs over time to this file")
	return cmd
}

// runSimulate runs the fleet simulation and prints its result.
func runSimulate(cmd *cobra.Command, o *simulateOptions) error {
	cfg, err := simulateConfig(cmd, o)
	if err != nil {
		return err
	}
	res, err := fleet.Run(cfg)
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := writeSVG(o.plot, res); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		return writeJSON(out, res)
	}
	_, err = io.WriteString(out, res.Summary())
	return err
}

// simulateConfig is the --config file (or fleet's defaults) with the flags
// given on the command line over it.
func simulateConfig(cmd *cobra.Command, o *simulateOptions) (fleet.Config, error) {
	cfg := fleet.Default()
	if o.configFile != "" {
		b, err := readInput(o.configFile, fleet.MaxConfigBytes)
		if err != nil {
			return cfg, err
		}
		if cfg, err = fleet.LoadConfig(b); err != nil {
			return cfg, fmt.Errorf("%s: %w", o.configFile, err)
		}
	}
	f := cmd.Flags()
	if f.Changed("installs") {
		cfg.Installs = o.installs
	}
	if f.Changed("days") {
		cfg.Days = o.days
	}
	if f.Changed("seed") {
		cfg.Seed = o.seed
	}
	if f.Changed("threshold") {
		cfg.Plan.Threshold = o.threshold
	}
	if f.Changed("gate") {
		on := o.gate == "on"
		if !on && o.gate != "off" {
			return cfg, fmt.Errorf("--gate %q: want on or off", o.gate)
		}
		cfg.Plan.Gate = &on
	}
	if f.Changed("heal") {
		if o.heal != "on" && o.heal != "off" {
			return cfg, fmt.Errorf("--heal %q: want on or off", o.heal)
		}
		cfg.NoHeal = o.heal == "off"
	}
	for _, d := range []struct {
		flag string
		val  string
		dst  *fleet.Duration
	}{{"hold-down", o.holdDown, &cfg.Plan.HoldDown}, {"refresh-interval", o.refresh, &cfg.RefreshInterval}} {
		if f.Changed(d.flag) {
			v, err := fleet.ParseDuration(d.val)
			if err != nil {
				return cfg, fmt.Errorf("--%s: %w", d.flag, err)
			}
			*d.dst = v
		}
	}
	return cfg, nil
}

func writeSVG(name string, res *fleet.Result) error {
	f, err := atomicfile.Create(name, atomicfile.Options{Perm: 0o644})
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := res.WriteSVG(f); err != nil {
		return err
	}
	return f.Commit()
}
