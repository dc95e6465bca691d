package ipa

import (
	"fmt"
	"strings"
	"time"

	"howett.net/plist"
)

// MaxPlist bounds the size of an Info.plist.
const MaxPlist = 8 << 20

// Flag is a plist boolean as apps really write it: a real <true/>/<false/>,
// a string "YES"/"NO"/"true"/"false"/"1"/"0", or an integer 0/1.
type Flag struct {
	Set   bool   // the key is present with a recognisable value
	Value bool   // the value when Set
	Raw   string // the value as written, for messages
}

// True reports whether the key is present and true.
func (f Flag) True() bool { return f.Set && f.Value }

// False reports whether the key is present and false.
func (f Flag) False() bool { return f.Set && !f.Value }

// UnmarshalPlist implements plist.Unmarshaler.
func (f *Flag) UnmarshalPlist(unmarshal func(any) error) error {
	var b bool
	if unmarshal(&b) == nil {
		*f = Flag{Set: true, Value: b, Raw: fmt.Sprint(b)}
		return nil
	}
	var s string
	if unmarshal(&s) == nil {
		switch strings.ToUpper(strings.TrimSpace(s)) {
		case "YES", "TRUE", "1":
			*f = Flag{Set: true, Value: true, Raw: s}
		case "NO", "FALSE", "0":
			*f = Flag{Set: true, Value: false, Raw: s}
		default:
			*f = Flag{Raw: s}
		}
		return nil
	}
	var n int64
	if unmarshal(&n) == nil {
		*f = Flag{Set: true, Value: n != 0, Raw: fmt.Sprint(n)}
		return nil
	}
	*f = Flag{Raw: "(not a boolean)"}
	return nil
}

// Text is a plist string that tolerates other scalar types (kept as "").
type Text string

// UnmarshalPlist implements plist.Unmarshaler.
func (t *Text) UnmarshalPlist(unmarshal func(any) error) error {
	var s string
	if unmarshal(&s) == nil {
		*t = Text(s)
		return nil
	}
	var d time.Time
	if unmarshal(&d) == nil {
		*t = Text(d.UTC().Format("2006-01-02"))
	}
	return nil
}

// Info is the part of Info.plist that matters for transport security.
type Info struct {
	BundleID   Text      `plist:"CFBundleIdentifier"`
	Executable Text      `plist:"CFBundleExecutable"`
	MinimumOS  Text      `plist:"MinimumOSVersion"`
	ATS        *ATS      `plist:"NSAppTransportSecurity"`
	TrustKit   *TrustKit `plist:"TSKConfiguration"`
}

// ATS is NSAppTransportSecurity.
type ATS struct {
	AllowsArbitraryLoads             Flag                       `plist:"NSAllowsArbitraryLoads"`
	AllowsArbitraryLoadsForMedia     Flag                       `plist:"NSAllowsArbitraryLoadsForMedia"`
	AllowsArbitraryLoadsInWebContent Flag                       `plist:"NSAllowsArbitraryLoadsInWebContent"`
	AllowsLocalNetworking            Flag                       `plist:"NSAllowsLocalNetworking"`
	ExceptionDomains                 map[string]ExceptionDomain `plist:"NSExceptionDomains"`
	PinnedDomains                    map[string]PinnedDomain    `plist:"NSPinnedDomains"`
}

// ExceptionDomain is one entry of NSExceptionDomains. The Temporary and
// ThirdParty spellings are read too: older SDKs and third-party code use
// them, and ATS honours them.
type ExceptionDomain struct {
	IncludesSubdomains Flag `plist:"NSIncludesSubdomains"`

	AllowsInsecureHTTPLoads           Flag `plist:"NSExceptionAllowsInsecureHTTPLoads"`
	TemporaryAllowsInsecureHTTPLoads  Flag `plist:"NSTemporaryExceptionAllowsInsecureHTTPLoads"`
	ThirdPartyAllowsInsecureHTTPLoads Flag `plist:"NSThirdPartyExceptionAllowsInsecureHTTPLoads"`

	MinimumTLSVersion           Text `plist:"NSExceptionMinimumTLSVersion"`
	TemporaryMinimumTLSVersion  Text `plist:"NSTemporaryExceptionMinimumTLSVersion"`
	ThirdPartyMinimumTLSVersion Text `plist:"NSThirdPartyExceptionMinimumTLSVersion"`

	RequiresForwardSecrecy           Flag `plist:"NSExceptionRequiresForwardSecrecy"`
	TemporaryRequiresForwardSecrecy  Flag `plist:"NSTemporaryExceptionRequiresForwardSecrecy"`
	ThirdPartyRequiresForwardSecrecy Flag `plist:"NSThirdPartyExceptionRequiresForwardSecrecy"`
}

// PinnedDomain is one entry of NSPinnedDomains (iOS 14+).
type PinnedDomain struct {
	IncludesSubdomains Flag               `plist:"NSIncludesSubdomains"`
	CAIdentities       *[]map[string]Text `plist:"NSPinnedCAIdentities"`
	LeafIdentities     *[]map[string]Text `plist:"NSPinnedLeafIdentities"`
}

// IdentityKey is the key of a pinned identity's value.
const IdentityKey = "SPKI-SHA256-BASE64"

// TrustKit is a TrustKit configuration kept in Info.plist (TSKConfiguration).
// TrustKit reads the string values of its kTSK... constants
// (kTSKPinnedDomains is @"TSKPinnedDomains"), so those are the keys here.
type TrustKit struct {
	SwizzleNetworkDelegates Flag                      `plist:"TSKSwizzleNetworkDelegates"`
	PinnedDomains           map[string]TrustKitDomain `plist:"TSKPinnedDomains"`
}

// TrustKitDomain is one entry of TSKPinnedDomains.
type TrustKitDomain struct {
	PublicKeyHashes   []Text `plist:"TSKPublicKeyHashes"`
	EnforcePinning    Flag   `plist:"TSKEnforcePinning"`
	IncludeSubdomains Flag   `plist:"TSKIncludeSubdomains"`
	ExpirationDate    Text   `plist:"TSKExpirationDate"`
}

// ParseInfo decodes an Info.plist, XML or binary. [CheckPlist] bounds its
// depth and object count first, without recursion. Only the keys above are
// decoded, into fixed types, so a crafted plist whose objects share
// references cannot expand into an exponential tree.
func ParseInfo(b []byte) (info *Info, format string, err error) {
	if len(b) > MaxPlist {
		return nil, "", fmt.Errorf("property list of %d bytes exceeds the %d-byte limit", len(b), MaxPlist)
	}
	if len(strings.TrimSpace(string(b[:min(len(b), 64)]))) == 0 {
		return nil, "", fmt.Errorf("empty property list")
	}
	if err := CheckPlist(b); err != nil {
		return nil, "", err
	}
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, fmt.Errorf("malformed property list: %v", p)
		}
	}()
	info = &Info{}
	f, err := plist.Unmarshal(b, info)
	if err != nil {
		return nil, "", fmt.Errorf("malformed property list: %v", err)
	}
	return info, strings.ToLower(plist.FormatNames[f]), nil
}
