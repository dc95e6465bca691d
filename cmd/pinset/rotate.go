package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/server"
)

func init() { addCommand(newRotateCmd) }

// keyPin reads the pin of the one key (or certificate, or CSR) in file.
func keyPin(flag, file string) (pin.Pin, error) {
	b, err := readInput(file, maxInputFile)
	if err != nil {
		return pin.Pin{}, fmt.Errorf("%s %w", flag, err)
	}
	items, err := pin.ParseItems(b, file)
	if err != nil {
		return pin.Pin{}, fmt.Errorf("%s %w", flag, err)
	}
	p := items[0].Pin
	for _, it := range items[1:] {
		if it.Pin != p {
			return pin.Pin{}, fmt.Errorf("%s %s: holds %d different keys; give a file with one", flag, file, len(items))
		}
	}
	return p, nil
}

// planSelector is the one plan a command acts on (advance, abort,
// envelope): the admin API it is in, and its id or its app and host.
type planSelector struct {
	c         adminConn
	id        int64
	app, host string
}

func (s *planSelector) flags(cmd *cobra.Command) {
	s.c.flags(cmd, adminTimeout)
	f := cmd.Flags()
	f.Int64Var(&s.id, "id", 0, "the plan's `ID` (from pinset rotate status)")
	f.StringVar(&s.app, "app", "", "the plan's `APP` (with --host, instead of --id)")
	f.StringVar(&s.host, "host", "", "the plan's host `PATTERN` as written in the manifest")
}

// open opens the connection and returns the plan's id: --id, or that of
// the active plan of --app for --host.
func (s *planSelector) open(cmd *cobra.Command) (int64, error) {
	if err := s.c.open(); err != nil {
		return 0, err
	}
	if s.id > 0 {
		return s.id, nil
	}
	if s.app == "" || s.host == "" {
		return 0, errors.New("name the plan with --id, or with --app and --host")
	}
	var list struct{ Plans []server.PlanStatus }
	if err := s.c.call(cmd, "GET", "/v1/admin/apps/"+url.PathEscape(s.app)+"/rotations?active=1", nil, &list); err != nil {
		return 0, err
	}
	for _, p := range list.Plans {
		if p.Host == s.host {
			return p.ID, nil
		}
	}
	return 0, fmt.Errorf("app %s has no active rotation plan for %s", s.app, s.host)
}

// statusJSON is one plan in `pinset rotate status --json`.
type statusJSON struct {
	ID        int64   `json:"id"`
	App       string  `json:"app"`
	Host      string  `json:"host"`
	State     string  `json:"state"`
	NextPin   string  `json:"next_pin"`
	Adoption  float64 `json:"adoption"`
	BlockedBy string  `json:"blocked_by"`
	Envelope  string  `json:"envelope,omitempty"`
}

func printPlans(cmd *cobra.Command, plans []server.PlanStatus, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		list := make([]statusJSON, 0, len(plans))
		for _, p := range plans {
			list = append(list, statusJSON{ID: p.ID, App: p.App, Host: p.Host, State: string(p.State), NextPin: p.NextPin,
				Adoption: p.Adoption, BlockedBy: p.BlockedBy, Envelope: p.Envelope})
		}
		return writeJSON(out, list)
	}
	if len(plans) == 0 {
		fmt.Fprintln(out, "no rotation plans")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tHOST\tSTATE\tADOPTION\tNEXT PIN")
	for _, p := range plans {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.2f%% (%d of %d)\t%s\n", p.ID, p.App, p.Host, p.State, 100*p.Adoption, p.Clients, p.ActiveClients, p.NextPin)
	}
	tw.Flush()
	for _, p := range plans {
		if p.BlockedBy != "" {
			fmt.Fprintf(out, "plan %d waits for %s\n", p.ID, p.BlockedBy)
		}
		if p.Envelope != "" {
			fmt.Fprintf(out, "plan %d: download the unsigned manifest with: pinset rotate envelope --id %d -o FILE\n", p.ID, p.ID)
		}
	}
	return nil
}

// rotateHelp is the long help of `newRotateCmd`.
const rotateHelp = `pinset rotate drives a rotation plan at the pin service: for one host pattern
of one app, the service announces the next key's pin in a manifest, waits
until the installs that fetch the manifest hold it (--threshold of the active
installs, at least --min-clients of them, and --hold-down after the
announcement), switches the servers to the next key (the service's deploy
command, or you, confirming with advance), verifies that every address serves
it, and publishes a manifest without the old pin. docs/rotation.md explains
the model and the defaults.

The private key never leaves this machine: start and advance read only its
public half and send the pin.`

func newRotateCmd() *cobra.Command {
	cmd := group("rotate start|status|advance|abort|envelope", "Rotate a server key once the installed apps hold the next pin", rotateHelp,
		newRotateStartCmd(), newRotateStatusCmd(), newRotateAdvanceCmd(), newRotateAbortCmd(), newRotateEnvelopeCmd())
	cmd.Example = `  pinset rotate start --server https://pins.example.com --app com.example.shop \
    --host api.example.com --next-key next.key
  pinset rotate status --server https://pins.example.com --json
  pinset rotate advance --server https://pins.example.com --id 3`
	return cmd
}

func newRotateStartCmd() *cobra.Command {
	var (
		c                                        adminConn
		app, host, nextKey, oldKey, followingKey string
		threshold                                float64
		holdDown                                 string
		minClients                               int64
		asJSON                                   bool
	)
	cmd := &cobra.Command{
		Use:   "start --server URL --app APP --host PATTERN --next-key FILE [--threshold 0.99] [--hold-down 7d] [--min-clients N]",
		Short: "Start a rotation plan",
		Example: `  pinset rotate start --server https://pins.example.com --app com.example.shop \
    --host api.example.com --next-key next.key --min-clients 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.open(); err != nil {
				return err
			}
			if app == "" || host == "" || nextKey == "" {
				return errors.New("--app, --host and --next-key are required")
			}
			req, err := rotateStartRequest(host, nextKey, oldKey, followingKey, holdDown, threshold, minClients)
			if err != nil {
				return err
			}
			var st server.PlanStatus
			if err := c.call(cmd, "POST", "/v1/admin/apps/"+url.PathEscape(app)+"/rotations", req, &st); err != nil {
				return err
			}
			return printPlans(cmd, []server.PlanStatus{st}, asJSON)
		},
	}
	c.flags(cmd, adminTimeout)
	f := cmd.Flags()
	f.StringVar(&app, "app", "", "the app `ID`")
	f.StringVar(&host, "host", "", "the host `PATTERN` to rotate, as written in the manifest")
	f.StringVar(&nextKey, "next-key", "", "`FILE` with the next key (private or public key, certificate or CSR: only its pin is sent)")
	f.StringVar(&oldKey, "old-key", "", "`FILE` with the key being replaced (needed when the host has more than one other pin)")
	f.StringVar(&followingKey, "following-key", "", "`FILE` with the key after the next one, announced when the old pin retires")
	f.Float64Var(&threshold, "threshold", 0.99, "fraction of active installs that must hold the next pin")
	f.StringVar(&holdDown, "hold-down", "7d", "least time between the announcement and the switch")
	f.Int64Var(&minClients, "min-clients", 100, "least number of active installs the adoption is measured over")
	f.BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

// rotateStartRequest is the admin API's request to start a plan: the
// keys' pins (only pins leave this machine) and the plan's parameters.
func rotateStartRequest(host, nextKey, oldKey, followingKey, holdDown string, threshold float64, minClients int64) (server.StartRotation, error) {
	req := server.StartRotation{Host: host, Threshold: threshold, MinClients: minClients}
	var err error
	if req.NextPin, err = keyPin("--next-key", nextKey); err != nil {
		return req, err
	}
	if req.OldPin, err = optionalKeyPin("--old-key", oldKey); err != nil {
		return req, err
	}
	if req.FollowingPin, err = optionalKeyPin("--following-key", followingKey); err != nil {
		return req, err
	}
	if holdDown != "" {
		d, err := parseDays(holdDown)
		if err != nil {
			return req, fmt.Errorf("--hold-down %v", err)
		}
		secs := int64(d / time.Second)
		req.HoldDownSeconds = &secs
	}
	return req, nil
}

// optionalKeyPin is keyPin of file, or nil when file is empty.
func optionalKeyPin(flag, file string) (*pin.Pin, error) {
	if file == "" {
		return nil, nil
	}
	p, err := keyPin(flag, file)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func newRotateStatusCmd() *cobra.Command {
	var (
		c      adminConn
		app    string
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status --server URL [--app APP] [--all] [--json]",
		Short: "Show rotation plans: state, adoption of the next pin, what each waits for",
		Example: `  pinset rotate status --server https://pins.example.com
  pinset rotate status --server https://pins.example.com --app com.example.shop --all --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.open(); err != nil {
				return err
			}
			path := "/v1/admin/rotations"
			if app != "" {
				path = "/v1/admin/apps/" + url.PathEscape(app) + "/rotations"
			}
			if !all {
				path += "?active=1"
			}
			var list struct{ Plans []server.PlanStatus }
			if err := c.call(cmd, "GET", path, nil, &list); err != nil {
				return err
			}
			return printPlans(cmd, list.Plans, asJSON)
		},
	}
	c.flags(cmd, adminTimeout)
	cmd.Flags().StringVar(&app, "app", "", "only this app's plans")
	cmd.Flags().BoolVar(&all, "all", false, "include finished and aborted plans")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON list of plans (host, state, next_pin, adoption, blocked_by)")
	return cmd
}

// planAction posts action (advance, abort) for the selected plan and
// prints the plan as it stands after it.
func planAction(cmd *cobra.Command, sel *planSelector, action string, body any, asJSON bool) error {
	id, err := sel.open(cmd)
	if err != nil {
		return err
	}
	var st server.PlanStatus
	if err := sel.c.call(cmd, "POST", "/v1/admin/rotations/"+strconv.FormatInt(id, 10)+"/"+action, body, &st); err != nil {
		return err
	}
	return printPlans(cmd, []server.PlanStatus{st}, asJSON)
}

func newRotateAdvanceCmd() *cobra.Command {
	var (
		sel          planSelector
		followingKey string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "advance --server URL (--id N | --app APP --host PATTERN) [--following-key FILE]",
		Short: "Step a plan now; at ready, confirm that every address serves the next key",
		Example: `  pinset rotate advance --server https://pins.example.com --id 3
  pinset rotate advance --server https://pins.example.com --app com.example.shop \
    --host api.example.com --following-key after-next.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			if followingKey != "" {
				p, err := keyPin("--following-key", followingKey)
				if err != nil {
					return err
				}
				body["following_pin"] = p
			}
			return planAction(cmd, &sel, "advance", body, asJSON)
		},
	}
	sel.flags(cmd)
	cmd.Flags().StringVar(&followingKey, "following-key", "", "`FILE` with the key after the next one, announced when the old pin retires")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func newRotateAbortCmd() *cobra.Command {
	var (
		sel    planSelector
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "abort --server URL (--id N | --app APP --host PATTERN)",
		Short: "Stop a plan; after the switch, return every address to the old key",
		Example: `  pinset rotate abort --server https://pins.example.com --id 3
  pinset rotate abort --server https://pins.example.com --app com.example.shop \
    --host api.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return planAction(cmd, &sel, "abort", nil, asJSON)
		},
	}
	sel.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func newRotateEnvelopeCmd() *cobra.Command {
	var (
		sel   planSelector
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "envelope --server URL (--id N | --app APP --host PATTERN) -o FILE [--force]",
		Short: "Download the unsigned manifest a plan awaits signatures for",
		Long:  `Then sign it with each pins-role key and publish it.`,
		Example: `  pinset rotate envelope --server URL --id 3 -o next.json
  pinset sign --key pins1.key next.json && pinset sign --key pins2.key next.json
  pinset publish --server URL next.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			// An existing FILE may already carry signatures: refused
			// before any request unless --force.
			if err := checkOutput(out, force); err != nil {
				return err
			}
			id, err := sel.open(cmd)
			if err != nil {
				return err
			}
			var b []byte
			if err := sel.c.call(cmd, "GET", "/v1/admin/rotations/"+strconv.FormatInt(id, 10)+"/envelope", nil, &b); err != nil {
				return err
			}
			return writeOutput(cmd, out, b, force)
		},
	}
	sel.flags(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "`FILE` to write the unsigned envelope to (atomically)")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists (it may hold signatures already)")
	return cmd
}
