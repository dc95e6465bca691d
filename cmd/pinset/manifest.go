package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newManifestCmd) }

// manifestGate is the publish gate that 'pinset manifest new --check'
// runs before writing: it checks the manifest against the live hosts and
// returns an error naming the host, address and missing pin when clients
// would refuse one (unless force). check.go sets it (package check owns
// the decision); while it is nil the --check flag is not offered.
//
// ---- CHECK HOOK: wired by the check engineer (package check) ----
var manifestGate func(cmd *cobra.Command, m *trust.Manifest, force bool) error

// manifestGateFlags lets the gate register its own flags (e.g. --cafile,
// --resolve) on 'manifest new'.
var manifestGateFlags func(cmd *cobra.Command)

// manifestHelp is the long help of `newManifestCmd`.
const manifestHelp = `A pin manifest lists host policies (pattern, pins, include-subdomains,
enforce or report-only, report URI) with a version, the root version it is
signed under, an issue time and an expiry. The root's pins keys sign it.
See docs/trust.md.

Examples:
  pinset manifest new --root root.json --version 1 --policy hosts.yaml -o pins.json
  pinset sign --key pins.key --root root.json pins.json
  pinset verify --root root.json pins.json`

func newManifestCmd() *cobra.Command {
	return group("manifest", "Make pin manifests: the host policies apps enforce", manifestHelp,
		newManifestNewCmd())
}

// manifestNewHelp is the long help of `newManifestNewCmd`.
const manifestNewHelp = `pinset manifest new writes a pin manifest in an unsigned envelope, bound
to the app and version of --root; sign it with 'pinset sign' by the pins keys.

A host is given as
  --host 'PATTERN=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]'
where PATTERN is a host, *.domain (one label) or **.domain (any depth) and
PINs are in any spelling 'pinset pin' prints (base64, sha256/..., hex).
Or list the hosts in a YAML file with --policy:

  hosts:
    - pattern: api.example.com
      pins:
        - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=   # pinset pin live.key
        - Gnu9JCD/+zfWjha1+p8W7lHodC+nMcbCLRAJmDucwWg=   # pinset pin next.key
      include_subdomains: false
      report_only: false
      report_uri: https://reports.example.com/v1/reports

An enforced host needs at least two pins: the key in use and a backup held
back, so that a rotation never locks clients out. Versions must increase
with every manifest; the expiry defaults to 30 days.

Examples:
  LIVE=$(pinset pin --format base64 live.key); NEXT=$(pinset pin --format base64 next.key)
  pinset manifest new --root root.json --version 1 \
      --host "api.example.com=$LIVE,$NEXT" -o pins.json
  pinset manifest new --root root.json --version 2 --policy hosts.yaml -o pins.json
  pinset sign --key pins.key pins.json`

// manifestNewOptions are the flags of 'pinset manifest new'.
type manifestNewOptions struct {
	rootFile, expires, policyFile, out string
	hosts                              []string
	version                            uint64
	runCheck, force, forceCheck        bool
}

func newManifestNewCmd() *cobra.Command {
	var o manifestNewOptions
	cmd := &cobra.Command{
		Use:   "new --root root.json --version N (--host SPEC ... | --policy FILE) -o pins.json",
		Short: "Write an unsigned pin manifest envelope",
		Long:  manifestNewHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runManifestNew(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.rootFile, "root", "", "the root `FILE` the manifest is signed under")
	f.Uint64Var(&o.version, "version", 0, "manifest version (must increase with every manifest)")
	f.StringVar(&o.expires, "expires", "30d", "lifetime of the manifest (e.g. 30d, 72h)")
	f.StringArrayVar(&o.hosts, "host", nil, "host policy `PATTERN=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]` (repeatable)")
	f.StringVar(&o.policyFile, "policy", "", "YAML `FILE` listing the hosts")
	f.StringVarP(&o.out, "output", "o", "", "write the envelope to `FILE` (default stdout)")
	f.BoolVar(&o.force, "force", false, "overwrite the -o file if it exists")
	if manifestGate != nil {
		f.BoolVar(&o.runCheck, "check", false, "check the manifest against the live hosts first; refuse it if clients would refuse any address")
		f.BoolVar(&o.forceCheck, "force-check", false, "with --check: write the manifest even if the check fails")
		if manifestGateFlags != nil {
			manifestGateFlags(cmd)
		}
	}
	return cmd
}

// runManifestNew reads the root and the hosts, has trust.NewManifest
// assemble and validate the manifest, runs the gate with --check and
// writes the manifest unsigned.
func runManifestNew(cmd *cobra.Command, o *manifestNewOptions) error {
	if o.rootFile == "" {
		return fmt.Errorf("--root is required: the manifest is bound to its app and version")
	}
	if err := checkOutput(o.out, o.force); err != nil {
		return err
	}
	root, err := manifestReadRoot(cmd, o.rootFile)
	if err != nil {
		return err
	}
	if o.version == 0 {
		return errorWithHint(fmt.Errorf("--version is required"), "use a number above the version of the manifest apps hold now")
	}
	lifetime, err := trustParseDuration(o.expires)
	if err != nil {
		return fmt.Errorf("--expires: %v", err)
	}
	hosts, err := manifestHosts(o)
	if err != nil {
		return err
	}
	m, err := trust.NewManifest(root, o.version, hosts, trustNow(), lifetime)
	if errors.Is(err, policy.ErrNoBackupPin) {
		return errorWithHint(err, "add the pin of a backup key held back for the next rotation, or mark the host report-only")
	} else if err != nil {
		return err
	}
	if o.runCheck {
		if err := manifestGate(cmd, m, o.forceCheck); err != nil {
			return err
		}
	}
	if err := writeUnsigned(cmd, m, o.out, o.force); err != nil {
		return err
	}
	if o.out != "" && o.out != "-" {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: unsigned manifest %s v%d under root v%d, %s, expires %s; sign it with 'pinset sign --key PINS.key %s'\n",
			o.out, m.AppID, m.Version, m.RootVersion, plural(len(m.Hosts), "host"), m.Expires.Format(trust.TimeLayout), o.out)
	}
	return nil
}

// manifestReadRoot reads the root a manifest is bound to, warning when it
// is unsigned or has expired.
func manifestReadRoot(cmd *cobra.Command, rootFile string) (*trust.Root, error) {
	root, renv, err := readRootUnverified(rootFile)
	if err != nil {
		return nil, err
	}
	if len(renv.Signatures) == 0 {
		warningf(cmd.ErrOrStderr(), "%s is unsigned: clients will not trust it until it is signed", rootFile)
	}
	if now := trustNow(); !now.Before(root.Expires) {
		warningf(cmd.ErrOrStderr(), "%s: root v%d expired at %s: clients accept no manifest under it; make and publish the next root ('pinset root new --previous %s')",
			rootFile, root.Version, root.Expires.UTC().Format(trust.TimeLayout), rootFile)
	}
	return root, nil
}

// manifestHosts reads the hosts of --policy or of the --host specs.
func manifestHosts(o *manifestNewOptions) ([]policy.Policy, error) {
	if (o.policyFile == "") == (len(o.hosts) == 0) {
		return nil, fmt.Errorf("give the hosts with --host (repeatable) or --policy FILE, not both")
	}
	if o.policyFile != "" {
		return manifestReadPolicy(o.policyFile)
	}
	var hosts []policy.Policy
	for _, h := range o.hosts {
		p, err := policy.ParseSpec(h)
		if err != nil {
			return nil, fmt.Errorf("--host %q: %w", h, err)
		}
		hosts = append(hosts, p)
	}
	return hosts, nil
}

// manifestPolicyFile is the YAML of --policy.
type manifestPolicyFile struct {
	Hosts []struct {
		Pattern           string   `yaml:"pattern"`
		Pins              []string `yaml:"pins"`
		IncludeSubdomains bool     `yaml:"include_subdomains"`
		ReportOnly        bool     `yaml:"report_only"`
		ReportURI         string   `yaml:"report_uri"`
	} `yaml:"hosts"`
}

// manifestReadPolicy reads a --policy YAML file strictly (unknown keys are
// errors).
func manifestReadPolicy(name string) ([]policy.Policy, error) {
	b, err := readInput(name, 4<<20)
	if err != nil {
		return nil, err
	}
	var f manifestPolicyFile
	if err := decodeYAMLStrict(name, b, &f); err != nil {
		return nil, errorWithHint(err, "a host takes the keys pattern, pins, include_subdomains, report_only and report_uri")
	}
	if len(f.Hosts) == 0 {
		return nil, fmt.Errorf("%s: no hosts listed (expected a 'hosts:' list)", name)
	}
	var out []policy.Policy
	for i, h := range f.Hosts {
		p := policy.Policy{Pattern: h.Pattern, IncludeSubdomains: h.IncludeSubdomains, ReportOnly: h.ReportOnly, ReportURI: h.ReportURI}
		for _, s := range h.Pins {
			q, err := pin.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("%s: hosts[%d] (%s): %w", name, i, h.Pattern, err)
			}
			p.Pins = append(p.Pins, q)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%s: hosts[%d]: %w", name, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}
