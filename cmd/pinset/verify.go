package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/trust"
)

func init() { addCommand(newVerifyCmd) }

// verifyResult is the JSON output of pinset verify.
type verifyResult struct {
	File        string `json:"file"`
	Valid       bool   `json:"valid"`
	Type        string `json:"type,omitempty"` // root or manifest
	AppID       string `json:"app_id,omitempty"`
	Version     uint64 `json:"version,omitempty"`
	RootVersion uint64 `json:"root_version,omitempty"`
	Expires     string `json:"expires,omitempty"`
	Expired     bool   `json:"expired"`
	Signatures  int    `json:"signatures,omitempty"` // valid signatures counted (of a valid document)
	Threshold   int    `json:"threshold,omitempty"`  // signatures required
	Hosts       int    `json:"hosts,omitempty"`
	Error       string `json:"error,omitempty"`
}

// verifyHelp is the long help of `newVerifyCmd`.
const verifyHelp = `pinset verify starts from a trusted root (the one an app ships, which must
carry a threshold of its own root keys' signatures), walks the --chain roots
one version at a time (each signed by a threshold of the previous root's root
keys and of its own), and then verifies FILE: another root (the end of the
chain) or a pin manifest (signed by a threshold of the final root's pins
keys, for the same app, bound to that root version, not expired, every
enforced host with two pins).

It exits 0 and prints one line when everything verifies, and otherwise
exits 1 with the precise reason, for example:
  pinset: pins.json: threshold not met: 1 of 2 pins signatures (root v1)

Examples:
  pinset verify --root root.json pins.json
  pinset verify --root root-1.json --chain root-2.json root-3.json
  pinset verify --root root-1.json --chain root-2.json pins.json --json`

func newVerifyCmd() *cobra.Command {
	var (
		rootFile string
		chain    []string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "verify --root TRUSTED_ROOT.json [--chain ROOT_N.json ...] [FILE]",
		Short: "Verify a root chain and/or a pin manifest as a client would",
		Long:  verifyHelp,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootFile == "" {
				return errorWithHint(fmt.Errorf("--root is required"), "give the root the app trusts (e.g. the one it ships)")
			}
			var file string
			if len(args) == 1 {
				file = args[0]
			}
			res, err := verifyFiles(rootFile, chain, file, trustNow())
			if asJSON {
				if jerr := writeJSON(cmd.OutOrStdout(), res); jerr != nil {
					return jerr
				}
				if err != nil {
					return exitCode(1, nil)
				}
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), verifySummary(res))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootFile, "root", "", "the trusted root `FILE` to start from")
	f.StringArrayVar(&chain, "chain", nil, "root `FILE` of the next version (repeatable, in order)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// verifyRun is one run of the verifier over files: the clock and the
// bytes read so far (a failure describes the file that failed from them).
type verifyRun struct {
	now  time.Time
	read map[string][]byte
}

// verifyFiles runs the verifier over the files and describes the result.
// On failure the error names the file that failed, and the result
// describes that file (decoded without trusting it), not the root.
func verifyFiles(rootFile string, chain []string, file string, now time.Time) (verifyResult, error) {
	v := &verifyRun{now: now, read: map[string][]byte{}}
	rb, err := v.load(rootFile)
	if err != nil {
		return verifyUnreadable(rootFile, err)
	}
	st, err := trust.NewState(rb, nil)
	if err != nil {
		return v.fail(rootFile, err)
	}
	var manifestBytes []byte
	roots := append([]string(nil), chain...)
	if file != "" {
		b, err := v.load(file)
		if err != nil {
			return verifyUnreadable(file, err)
		}
		env, err := trust.ParseEnvelope(b)
		if err != nil {
			return v.fail(file, err)
		}
		if env.PayloadType == trust.PayloadTypeManifest {
			manifestBytes = b
		} else {
			roots = append(roots, file)
		}
	}
	st, res, err := v.walkRoots(st, rootFile, roots)
	if err != nil || manifestBytes == nil {
		return res, err
	}
	return v.manifest(st, file, manifestBytes)
}

// walkRoots walks the root chain from st through roots and describes the
// root it ends on.
func (v *verifyRun) walkRoots(st *trust.State, rootFile string, roots []string) (*trust.State, verifyResult, error) {
	last := rootFile
	var rootBytes [][]byte
	for _, name := range roots {
		b, err := v.load(name)
		if err != nil {
			res, err := verifyUnreadable(name, err)
			return nil, res, err
		}
		rootBytes = append(rootBytes, b)
		last = name
	}
	st, err := st.UpdateRootChain(rootBytes, v.now)
	if err != nil {
		var ce *trust.ChainError
		if errors.As(err, &ce) {
			last, err = roots[ce.Index], ce.Err
		}
		res, err := v.fail(last, err)
		return nil, res, err
	}
	r := st.Root()
	if len(rootBytes) == 0 && st.RootExpired(v.now) {
		res, err := v.fail(rootFile, &trust.ExpiredError{Document: "root", Version: r.Version, Expires: r.Expires, Now: v.now})
		return nil, res, err
	}
	env, _ := trust.ParseEnvelope(st.RootEnvelope())
	n, _ := r.VerifyRole(trust.RoleRoot, env)
	return st, verifyResult{File: last, Valid: true, Type: "root", AppID: r.AppID, Version: r.Version, Expires: r.Expires.Format(trust.TimeLayout),
		Signatures: n, Threshold: r.RootRole.Threshold}, nil
}

// manifest verifies the manifest under st's root and describes it.
func (v *verifyRun) manifest(st *trust.State, file string, b []byte) (verifyResult, error) {
	st, err := st.UpdateManifest(b, v.now)
	if err != nil {
		return v.fail(file, err)
	}
	r, m := st.Root(), st.Manifest()
	menv, _ := trust.ParseEnvelope(b)
	n, _ := r.VerifyRole(trust.RolePins, menv)
	return verifyResult{File: file, Valid: true, Type: "manifest", AppID: m.AppID, Version: m.Version, RootVersion: m.RootVersion,
		Expires: m.Expires.Format(trust.TimeLayout), Signatures: n, Threshold: r.PinsRole.Threshold, Hosts: len(m.Hosts)}, nil
}

// load reads a file, keeping its bytes for fail.
func (v *verifyRun) load(name string) ([]byte, error) {
	b, err := readInput(name, trustMaxFile)
	if err == nil {
		v.read[name] = b
	}
	return b, err
}

// fail describes the file that failed and names it in the error.
func (v *verifyRun) fail(name string, err error) (verifyResult, error) {
	res := verifyDescribe(name, v.read[name], v.now)
	err = fmt.Errorf("%s: %w", name, err)
	res.Error = err.Error()
	return res, err
}

// verifyUnreadable is the result for a file that could not be read:
// readInput's errors name the file already, so it is not named twice.
func verifyUnreadable(name string, err error) (verifyResult, error) {
	return verifyResult{File: name, Error: err.Error()}, err
}

// verifyDescribe describes a document that failed verification from its
// bytes, without trusting them: what it claims to be, and whether it has
// expired. Signatures are not counted (the verifier refused them, or did
// not get that far).
func verifyDescribe(name string, b []byte, now time.Time) verifyResult {
	res := verifyResult{File: name}
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		return res
	}
	var expires time.Time
	switch env.PayloadType {
	case trust.PayloadTypeRoot:
		r, err := trust.DecodeRoot(env.Payload)
		if err != nil {
			return res
		}
		res.Type, res.AppID, res.Version, expires, res.Threshold = "root", r.AppID, r.Version, r.Expires, r.RootRole.Threshold
	case trust.PayloadTypeManifest:
		m, err := trust.DecodeManifest(env.Payload)
		if err != nil {
			return res
		}
		res.Type, res.AppID, res.Version, res.RootVersion, expires, res.Hosts = "manifest", m.AppID, m.Version, m.RootVersion, m.Expires, len(m.Hosts)
	default:
		return res
	}
	res.Expires = expires.Format(trust.TimeLayout)
	res.Expired = !now.Before(expires)
	return res
}

func verifySummary(r verifyResult) string {
	if r.Type == "manifest" {
		return fmt.Sprintf("%s: OK: manifest %s v%d under root v%d, %s, %s (%d required), expires %s",
			r.File, r.AppID, r.Version, r.RootVersion, plural(r.Hosts, "host"), plural(r.Signatures, "valid pins signature"), r.Threshold, r.Expires)
	}
	return fmt.Sprintf("%s: OK: root %s v%d, %s (%d required), expires %s", r.File, r.AppID, r.Version,
		plural(r.Signatures, "valid root signature"), r.Threshold, r.Expires)
}
