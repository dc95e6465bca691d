package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newInspectCmd) }

// inspectSignature is one signature as inspect shows it.
type inspectSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
	// Status: "valid (root)", "valid (pins)", "INVALID", "unknown key", or
	// "not checked" when no root is known.
	Status string `json:"status"`
}

// inspectHost is one host policy as inspect shows it.
type inspectHost struct {
	Pattern           string   `json:"pattern"`
	Pins              []string `json:"pins"`
	IncludeSubdomains bool     `json:"include_subdomains"`
	ReportOnly        bool     `json:"report_only"`
	ReportURI         string   `json:"report_uri,omitempty"`
}

// inspectKey is one key of a root.
type inspectKey struct {
	KeyID string   `json:"keyid"`
	Alg   string   `json:"alg"`
	Pin   string   `json:"pin"`
	Roles []string `json:"roles"`
}

// inspectView is the JSON output of pinset inspect.
type inspectView struct {
	File          string             `json:"file"`
	Verified      bool               `json:"verified"` // always false: inspect checks signatures, not trust
	PayloadType   string             `json:"payload_type"`
	Type          string             `json:"type"`
	AppID         string             `json:"app_id"`
	Version       uint64             `json:"version"`
	RootVersion   uint64             `json:"root_version,omitempty"`
	IssuedAt      string             `json:"issued_at,omitempty"`
	Expires       string             `json:"expires"`
	Expired       bool               `json:"expired"`
	Keys          []inspectKey       `json:"keys,omitempty"`
	RootThreshold int                `json:"root_threshold,omitempty"`
	PinsThreshold int                `json:"pins_threshold,omitempty"`
	Log           *trust.Log         `json:"log,omitempty"`
	Hosts         []inspectHost      `json:"hosts,omitempty"`
	Signatures    []inspectSignature `json:"signatures"`
}

// inspectHelp is the long help of `newInspectCmd`.
const inspectHelp = `pinset inspect prints a root or pin manifest in readable form: its fields,
keys and roles or host policies, and each signature with whether it verifies.

Inspecting is not verifying: the document is decoded strictly but not
trusted. A root's signatures are checked against its own root keys (and,
with --root, a signature by another key against the root keys of that
previous root); a manifest's against the pins keys of --root when given.
An expired document is marked EXPIRED. Use 'pinset verify' to decide trust.

Examples:
  pinset inspect root.json
  pinset inspect --root root.json pins.json
  pinset inspect pins.json --json`

func newInspectCmd() *cobra.Command {
	var (
		rootFile string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show a root or pin manifest envelope and its signatures",
		Long:  inspectHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			b, err := readInput(name, trustMaxFile)
			if err != nil {
				return err
			}
			var root *trust.Root
			if rootFile != "" {
				var err error
				if root, _, err = readRootUnverified(rootFile); err != nil {
					return err
				}
			}
			v, err := inspectFile(name, b, root, trustNow())
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			inspectPrint(cmd.OutOrStdout(), v)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootFile, "root", "", "root `FILE` whose pins keys check a manifest's signatures")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the document as JSON")
	return cmd
}

// inspectFile describes the envelope b without trusting it: its document
// and each signature, checked against the document's own root keys (and
// given's, the previous root) or, for a manifest, given's pins keys.
func inspectFile(name string, b []byte, given *trust.Root, now time.Time) (*inspectView, error) {
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	v := &inspectView{File: name, PayloadType: env.PayloadType, Signatures: []inspectSignature{}}
	switch env.PayloadType {
	case trust.PayloadTypeRoot:
		r, err := trust.DecodeRoot(env.Payload)
		if err != nil {
			return nil, err
		}
		v.describeRoot(r, now)
		v.signatures(env, r, given, trust.RoleRoot)
	case trust.PayloadTypeManifest:
		m, err := trust.DecodeManifest(env.Payload)
		if err != nil {
			return nil, err
		}
		v.describeManifest(m, now)
		v.signatures(env, given, nil, trust.RolePins)
	default:
		return nil, fmt.Errorf("payload type %q: %w", env.PayloadType, trust.ErrPayloadType)
	}
	return v, nil
}

// describeRoot fills in a root's fields and keys.
func (v *inspectView) describeRoot(r *trust.Root, now time.Time) {
	v.Type, v.AppID, v.Version, v.Expires = "root", r.AppID, r.Version, r.Expires.Format(trust.TimeLayout)
	v.Expired = !now.Before(r.Expires)
	v.RootThreshold, v.PinsThreshold = r.RootRole.Threshold, r.PinsRole.Threshold
	v.Log = r.Log
	for _, k := range r.Keys {
		ik := inspectKey{KeyID: k.ID, Alg: string(k.Alg), Pin: pin.FromSPKI(k.SPKI).Format(pin.OkHttp), Roles: []string{}}
		if slices.Contains(r.RootRole.KeyIDs, k.ID) {
			ik.Roles = append(ik.Roles, trust.RoleRoot)
		}
		if slices.Contains(r.PinsRole.KeyIDs, k.ID) {
			ik.Roles = append(ik.Roles, trust.RolePins)
		}
		v.Keys = append(v.Keys, ik)
	}
}

// describeManifest fills in a manifest's fields and hosts.
func (v *inspectView) describeManifest(m *trust.Manifest, now time.Time) {
	v.Type, v.AppID, v.Version, v.RootVersion = "manifest", m.AppID, m.Version, m.RootVersion
	v.IssuedAt, v.Expires = m.IssuedAt.Format(trust.TimeLayout), m.Expires.Format(trust.TimeLayout)
	v.Expired = !now.Before(m.Expires)
	for _, h := range m.Hosts {
		ih := inspectHost{Pattern: h.Pattern, IncludeSubdomains: h.IncludeSubdomains, ReportOnly: h.ReportOnly, ReportURI: h.ReportURI}
		for _, p := range h.Pins {
			ih.Pins = append(ih.Pins, p.Format(pin.OkHttp))
		}
		v.Hosts = append(v.Hosts, ih)
	}
}

// signatures checks each signature alone against role of root (when
// known); prev, the previous root, checks a root's signatures by keys that
// are not its own.
func (v *inspectView) signatures(env *trust.Envelope, root, prev *trust.Root, role string) {
	for _, s := range env.Signatures {
		is := inspectSignature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(s.Sig), Status: "not checked (give --root)"}
		if root != nil {
			is.Status = inspectSigStatus(root, role, env, s)
		}
		if prev != nil && !slices.Contains(root.RootRole.KeyIDs, s.KeyID) {
			switch st := inspectSigStatus(prev, role, env, s); {
			case strings.HasPrefix(st, "valid"):
				is.Status = fmt.Sprintf("valid (root key of v%d)", prev.Version)
			case st == "INVALID":
				is.Status = fmt.Sprintf("INVALID (root key of v%d)", prev.Version)
			default:
				is.Status = fmt.Sprintf("unknown key (not a root key of this root nor of v%d)", prev.Version)
			}
		}
		v.Signatures = append(v.Signatures, is)
	}
}

// inspectSigStatus checks one signature alone against a role of root.
func inspectSigStatus(root *trust.Root, role string, env *trust.Envelope, s trust.Signature) string {
	r, _ := root.Role(role)
	if !slices.Contains(r.KeyIDs, s.KeyID) {
		if role == trust.RoleRoot {
			return "not a root key of this root (may be a key of the previous root)"
		}
		return "unknown key (not a pins key of the root)"
	}
	one := &trust.Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: []trust.Signature{s}}
	if n, _ := root.VerifyRole(role, one); n == 1 {
		return "valid (" + role + ")"
	}
	return "INVALID"
}

func inspectPrint(w io.Writer, v *inspectView) {
	fmt.Fprintf(w, "%s: %s (UNVERIFIED: use 'pinset verify' to decide trust)\n", v.File, v.PayloadType)
	fmt.Fprintf(w, "  app:           %s\n", v.AppID)
	fmt.Fprintf(w, "  version:       %d\n", v.Version)
	if v.Type == "manifest" {
		fmt.Fprintf(w, "  root version:  %d\n", v.RootVersion)
		fmt.Fprintf(w, "  issued at:     %s\n", v.IssuedAt)
	}
	expired := ""
	if v.Expired {
		expired = " (EXPIRED)"
	}
	fmt.Fprintf(w, "  expires:       %s%s\n", v.Expires, expired)
	if v.Type == "root" {
		fmt.Fprintf(w, "  root role:     %d of %s must sign\n", v.RootThreshold, plural(countRole(v.Keys, trust.RoleRoot), "key"))
		fmt.Fprintf(w, "  pins role:     %d of %s must sign\n", v.PinsThreshold, plural(countRole(v.Keys, trust.RolePins), "key"))
		if v.Log != nil {
			fmt.Fprintf(w, "  log:           %s", v.Log.Key)
			if len(v.Log.Witnesses) > 0 {
				fmt.Fprintf(w, ", %d of %s must cosign", v.Log.WitnessThreshold, plural(len(v.Log.Witnesses), "witness", "witnesses"))
			}
			fmt.Fprintln(w, "\n                 manifests are accepted only with a proof that they are in this log")
		}
		fmt.Fprintf(w, "  keys:\n")
		for _, k := range v.Keys {
			fmt.Fprintf(w, "    %s  %-17s %s\n", k.KeyID, k.Alg, strings.Join(k.Roles, ","))
		}
	}
	if v.Type == "manifest" {
		fmt.Fprintf(w, "  hosts:\n")
		for _, h := range v.Hosts {
			var flags []string
			if h.IncludeSubdomains {
				flags = append(flags, "include-subdomains")
			}
			if h.ReportOnly {
				flags = append(flags, "report-only")
			} else {
				flags = append(flags, "enforced")
			}
			if h.ReportURI != "" {
				flags = append(flags, "report-uri="+h.ReportURI)
			}
			fmt.Fprintf(w, "    %s (%s)\n", h.Pattern, strings.Join(flags, ", "))
			for _, p := range h.Pins {
				fmt.Fprintf(w, "      %s\n", p)
			}
		}
	}
	fmt.Fprintf(w, "  signatures:    %d\n", len(v.Signatures))
	for _, s := range v.Signatures {
		fmt.Fprintf(w, "    %s  %s\n", s.KeyID, s.Status)
	}
}

func countRole(keys []inspectKey, role string) int {
	n := 0
	for _, k := range keys {
		if slices.Contains(k.Roles, role) {
			n++
		}
	}
	return n
}
