package trust

import (
	"fmt"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// MaxHosts bounds the host policies of one manifest.
const MaxHosts = 1000

// Manifest is the pin manifest: the host policies one app enforces,
// signed by the pins role of the root whose version it names.
type Manifest struct {
	AppID       string
	Version     uint64 // strictly increasing
	RootVersion uint64 // the root it is signed under (mix-and-match guard)
	IssuedAt    time.Time
	Expires     time.Time
	Hosts       []policy.Policy
}

// PolicySet returns the manifest's host policies as a validated set, the
// form the enforce package consumes.
func (m *Manifest) PolicySet() (*policy.Set, error) {
	return policy.NewSet(m.Hosts)
}

// Validate checks the manifest's own rules: app id, versions, times
// (expires after issued-at), at least one and at most MaxHosts hosts, each
// host a valid policy, no two covering the same names, and every enforced
// host with at least two pins (policy.Policy.RequireBackup).
func (m *Manifest) Validate() error {
	_, err := m.validate()
	return err
}

// validate is Validate that also returns the policy set it built.
func (m *Manifest) validate() (*policy.Set, error) {
	if !ValidAppID(m.AppID) {
		return nil, invalid("manifest", "app id %q: use 1 to %d characters of A-Z a-z 0-9 . _ -", m.AppID, MaxAppIDLen)
	}
	if m.Version < 1 || m.Version > MaxVersion {
		return nil, invalid("manifest", "version %d out of range 1 to %d", m.Version, uint64(MaxVersion))
	}
	if m.RootVersion < 1 || m.RootVersion > MaxVersion {
		return nil, invalid("manifest", "root version %d out of range 1 to %d", m.RootVersion, uint64(MaxVersion))
	}
	if m.IssuedAt.IsZero() || m.Expires.IsZero() {
		return nil, invalid("manifest", "issued-at and expiry are required")
	}
	if !m.Expires.After(m.IssuedAt) {
		return nil, &docError{msg: fmt.Sprintf("manifest v%d expires (%s) before it is issued (%s)", m.Version, formatTime(m.Expires), formatTime(m.IssuedAt)), errs: []error{ErrExpiresBeforeIssued}}
	}
	if len(m.Hosts) == 0 {
		return nil, invalid("manifest", "no hosts (to stop enforcing, publish the hosts as report-only)")
	}
	if len(m.Hosts) > MaxHosts {
		return nil, invalid("manifest", "%d hosts is more than the limit of %d", len(m.Hosts), MaxHosts)
	}
	set, err := policy.NewSet(m.Hosts)
	if err != nil {
		return nil, invalidWrap("manifest", err)
	}
	for _, h := range m.Hosts {
		if err := h.RequireBackup(); err != nil {
			return nil, invalidWrap("manifest", err)
		}
	}
	return set, nil
}

type manifestJSON struct {
	AppID       string          `json:"app_id"`
	Version     uint64          `json:"version"`
	RootVersion uint64          `json:"root_version"`
	IssuedAt    string          `json:"issued_at"`
	Expires     string          `json:"expires"`
	Hosts       []policy.Policy `json:"hosts"`
}

// Marshal validates the manifest and encodes it as the payload of a
// manifest envelope (indented JSON, fields in a fixed order, pins as
// standard base64, final newline).
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	j := manifestJSON{AppID: m.AppID, Version: m.Version, RootVersion: m.RootVersion,
		IssuedAt: formatTime(m.IssuedAt), Expires: formatTime(m.Expires), Hosts: m.Hosts}
	return marshalIndent(j)
}

// Envelope returns an unsigned envelope around the manifest's payload.
func (m *Manifest) Envelope() (*Envelope, error) {
	b, err := m.Marshal()
	return unsigned(PayloadTypeManifest, b, err)
}

// DecodeManifest strictly decodes and validates a manifest payload (the
// bytes inside the envelope). It checks no signature.
func DecodeManifest(payload []byte) (*Manifest, error) {
	m, _, err := decodeManifest(payload)
	return m, err
}

// Field names of a manifest and of its hosts.
var (
	manifestFields = []string{"app_id", "version", "root_version", "issued_at", "expires", "hosts"}
	hostRequired   = []string{"pattern", "pins"}
	hostOptional   = []string{"include_subdomains", "report_only", "report_uri"}
)

func decodeManifest(payload []byte) (*Manifest, *policy.Set, error) {
	const what = "manifest"
	v, err := parseStrict(what, payload, MaxPayloadSize)
	if err != nil {
		return nil, nil, err
	}
	d := dec{what}
	f, err := d.object(v, top, manifestFields, nil)
	if err != nil {
		return nil, nil, err
	}
	m := &Manifest{}
	if m.AppID, err = d.str(f.get("app_id"), top.dot("app_id")); err != nil {
		return nil, nil, err
	}
	if m.Version, err = d.uint(f.get("version"), top.dot("version")); err != nil {
		return nil, nil, err
	}
	if m.RootVersion, err = d.uint(f.get("root_version"), top.dot("root_version")); err != nil {
		return nil, nil, err
	}
	if m.IssuedAt, err = d.time(f.get("issued_at"), top.dot("issued_at")); err != nil {
		return nil, nil, err
	}
	if m.Expires, err = d.time(f.get("expires"), top.dot("expires")); err != nil {
		return nil, nil, err
	}
	hp := top.dot("hosts")
	hosts, err := d.array(f.get("hosts"), hp, MaxHosts)
	if err != nil {
		return nil, nil, err
	}
	// One backing array for the pins of all hosts, each host's slice
	// capped at its own length.
	npins := 0
	for _, e := range hosts {
		if hv := e.val; hv.kind == jObject {
			if pv := (fields{hv}).get("pins"); pv != nil && pv.kind == jArray {
				npins += min(len(pv.kids), policy.MaxPins)
			}
		}
	}
	allPins := make([]pin.Pin, 0, npins)
	m.Hosts = make([]policy.Policy, 0, len(hosts))
	for i, e := range hosts {
		p := hp.at(i)
		hf, err := d.object(e.val, p, hostRequired, hostOptional)
		if err != nil {
			return nil, nil, err
		}
		var h policy.Policy
		if h.Pattern, err = d.str(hf.get("pattern"), p.dot("pattern")); err != nil {
			return nil, nil, err
		}
		pins, err := d.array(hf.get("pins"), p.dot("pins"), policy.MaxPins)
		if err != nil {
			return nil, nil, err
		}
		start := len(allPins)
		for j, pe := range pins {
			s, err := d.str(pe.val, p.dot("pins").at(j))
			if err != nil {
				return nil, nil, err
			}
			pv, err := pin.ParseBase64(s)
			if err != nil {
				return nil, nil, invalid(what, "%s: %v", p.dot("pins").at(j), err)
			}
			allPins = append(allPins, pv)
		}
		if len(allPins) > start {
			h.Pins = allPins[start:len(allPins):len(allPins)]
		}
		if x := hf.get("include_subdomains"); x != nil {
			if h.IncludeSubdomains, err = d.boolean(x, p.dot("include_subdomains")); err != nil {
				return nil, nil, err
			}
		}
		if x := hf.get("report_only"); x != nil {
			if h.ReportOnly, err = d.boolean(x, p.dot("report_only")); err != nil {
				return nil, nil, err
			}
		}
		if x := hf.get("report_uri"); x != nil {
			if h.ReportURI, err = d.str(x, p.dot("report_uri")); err != nil {
				return nil, nil, err
			}
		}
		m.Hosts = append(m.Hosts, h)
	}
	set, err := m.validate()
	if err != nil {
		return nil, nil, err
	}
	return m, set, nil
}

// DecodeManifestUnverified decodes a manifest envelope strictly WITHOUT
// checking any signature, version or expiry: for offline tools (export,
// check, inspect) that say so to their users. Clients must use
// State.UpdateManifest instead.
func DecodeManifestUnverified(envelope []byte) (*Manifest, error) {
	env, err := ParseEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	if env.PayloadType != PayloadTypeManifest {
		return nil, fmt.Errorf("payload type %q, expected %q: %w", env.PayloadType, PayloadTypeManifest, ErrPayloadType)
	}
	return DecodeManifest(env.Payload)
}
