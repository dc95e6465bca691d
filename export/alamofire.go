package export

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"pinset.dev/pinset/pin"
)

// Alamofire's ServerTrustManager with PublicKeysTrustEvaluator
// (https://github.com/Alamofire/Alamofire/blob/master/Documentation/AdvancedUsage.md#security).
//
// The evaluators are looked up by exact host name: there are no wildcards
// and no subdomains unless the app subclasses ServerTrustManager. And
// PublicKeysTrustEvaluator compares SecKey values, not SPKI SHA-256
// digests, so a pin alone is not enough: the generated code needs each key.
// Keys pinset has seen (in --cert files or a --connect chain) are written
// into the code and created with SecKeyCreateWithData; the others (keys held
// back for rotation, typically) must be bundled with the app as DER
// certificates with a name derived from the pin. The generated code stops
// the app (fatalError) when the trust manager is first used and one of those
// is missing, so a missing backup key is found in testing rather than on the
// day the server rotates to it.

func renderAlamofire(p *prepared) ([]byte, error) {
	const platform = "Alamofire"
	var kept []keyed
	taken := map[string]string{}
	// Exact hosts first: on the base name itself pinset applies the exact
	// policy, so it is the one that gets the name.
	for _, pass := range []bool{false, true} {
		for _, h := range p.hosts {
			if h.subdomains() != pass || h.ReportOnly {
				continue
			}
			if !h.coversBase() {
				p.warn(WarnSubdomains, h.Pattern, "left out: Alamofire's ServerTrustManager matches exact host names only, so names one label below %s are NOT pinned (subclass ServerTrustManager and override serverTrustEvaluator(forHost:) to reach them)", h.base())
				continue
			}
			if prev, dup := taken[h.base()]; dup {
				p.warn(WarnDuplicateDomain, h.Pattern, "left out: Alamofire matches exact host names only and %s already holds %s; names below it are NOT pinned", prev, h.base())
				continue
			}
			if h.subdomains() {
				p.warn(WarnSubdomains, h.Pattern, "Alamofire's ServerTrustManager matches exact host names only: %s is pinned, names below it (a.%s) are NOT (subclass ServerTrustManager and override serverTrustEvaluator(forHost:) to reach them)", h.base(), h.base())
			}
			taken[h.base()] = h.Pattern
			kept = append(kept, keyed{host: h})
		}
	}
	for _, h := range p.hosts {
		if h.ReportOnly {
			p.warn(WarnReportOnly, h.Pattern, "left out: Alamofire has no report-only mode, so this host is not pinned there and no failures are reported")
		}
	}
	// Keep the input order in the output.
	order := map[string]int{}
	for i, h := range p.hosts {
		order[h.Pattern] = i
	}
	sortKeyed(kept, order)
	p.warnReportURI(platform, kept)
	p.warnNoExpiration(platform)

	var bundled []string
	var b strings.Builder
	for _, l := range p.header() {
		b.WriteString("// " + l + "\n")
	}
	b.WriteString(`//
// Alamofire's PublicKeysTrustEvaluator compares SecKey values, not SPKI
// SHA-256 digests, so each pin below needs its key inside the app:
//  - keys pinset has seen (in a --cert file or a --connect chain) are written
//    here and created with SecKeyCreateWithData;
//  - every other key (typically one held back for rotation) must be bundled
//    with the app as a DER certificate named as shown (pinset-<hex>.cer);
//    check a file with 'pinset pin FILE.cer' before bundling it.
// A key that cannot be loaded stops the app (fatalError) when the trust
// manager is first used, so that a missing backup key is found in testing,
// not on the day the server rotates to it.
//
// Use it with Session(serverTrustManager: pinsetServerTrustManager).

import Alamofire
import Foundation
import Security

let pinsetServerTrustManager = ServerTrustManager(
    // Hosts not listed here keep Alamofire's default evaluation: pinset
    // leaves unpinned hosts unpinned.
    allHostsMustBeEvaluated: false,
    evaluators: [
`)
	if len(kept) == 0 {
		// An empty Swift dictionary literal is [:], not [].
		b.WriteString("        :\n")
	}
	for _, h := range kept {
		b.WriteString("        " + strconv.Quote(h.base()) + ": PublicKeysTrustEvaluator(\n")
		b.WriteString("            keys: [\n")
		for _, q := range h.Pins {
			expr, comment, err := swiftKey(p, q)
			if err != nil {
				return nil, fmt.Errorf("host %q: %w", h.Pattern, err)
			}
			if strings.HasPrefix(expr, "PinsetKeys.bundledCertificate") {
				bundled = append(bundled, q.Format(pin.OkHttp))
			}
			b.WriteString("                // " + comment + "\n")
			b.WriteString("                " + expr + ",\n")
		}
		b.WriteString("            ],\n")
		b.WriteString("            performDefaultValidation: true,\n")
		b.WriteString("            validateHost: true\n")
		b.WriteString("        ),\n")
	}
	b.WriteString(`    ]
)

/// Creates the pinned public keys that PublicKeysTrustEvaluator compares.
enum PinsetKeys {
    /// A public key in SecKeyCreateWithData's external representation
    /// (ANSI X9.63 for EC keys, PKCS #1 for RSA keys), base64-encoded.
    static func key(_ base64: String, type: CFString, bits: Int) -> SecKey {
        guard let data = Data(base64Encoded: base64) else {
            fatalError("pinset: a pinned key is not valid base64")
        }
        let attributes: [CFString: Any] = [
            kSecAttrKeyType: type,
            kSecAttrKeyClass: kSecAttrKeyClassPublic,
            kSecAttrKeySizeInBits: bits,
        ]
        var error: Unmanaged<CFError>?
        guard let key = SecKeyCreateWithData(data as CFData, attributes as CFDictionary, &error) else {
            fatalError("pinset: cannot create a pinned public key: \(String(describing: error?.takeRetainedValue()))")
        }
        return key
    }

    /// The public key of a DER certificate bundled with the app as NAME.cer.
    static func bundledCertificate(_ name: String) -> SecKey {
        guard let url = Bundle.main.url(forResource: name, withExtension: "cer"),
              let data = try? Data(contentsOf: url),
              let certificate = SecCertificateCreateWithData(nil, data as CFData),
              let key = SecCertificateCopyKey(certificate)
        else {
            fatalError("pinset: the app bundle has no readable DER certificate \(name).cer for a pinned key")
        }
        return key
    }
}
`)
	if len(bundled) > 0 {
		p.warn(WarnBundledKeys, "", "Alamofire needs the keys themselves: bundle a DER certificate for each of %d pin(s) pinset has not seen (%s), named as the generated code says, or give their certificates with --cert", len(bundled), strings.Join(bundled, ", "))
	}
	return []byte(b.String()), nil
}

// swiftKey returns the Swift expression that yields the SecKey of pin q,
// and a comment naming the pin.
func swiftKey(p *prepared, q pin.Pin) (expr, comment string, err error) {
	where := p.Positions.Of(q).String()
	pub, known := p.Positions.Key(q)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // uncompressed point: ANSI X9.63, what SecKeyCreateWithData wants
		if err != nil {
			return "", "", err
		}
		return fmt.Sprintf("PinsetKeys.key(%s, type: kSecAttrKeyTypeECSECPrimeRandom, bits: %d)", strconv.Quote(base64.StdEncoding.EncodeToString(raw)), k.Curve.Params().BitSize),
			fmt.Sprintf("%s (%s key, %s)", q.Format(pin.OkHttp), where, pin.KeyType(k)), nil
	case *rsa.PublicKey:
		raw := x509.MarshalPKCS1PublicKey(k)
		return fmt.Sprintf("PinsetKeys.key(%s, type: kSecAttrKeyTypeRSA, bits: %d)", strconv.Quote(base64.StdEncoding.EncodeToString(raw)), k.N.BitLen()),
			fmt.Sprintf("%s (%s key, %s)", q.Format(pin.OkHttp), where, pin.KeyType(k)), nil
	case ed25519.PublicKey:
		p.warn(WarnBundledKeys, "", "pin %s is an Ed25519 key: Apple's Security framework has no Ed25519 SecKey, so Alamofire cannot match it", q.Format(pin.Base64))
	}
	name := bundledName(q)
	note := "not seen by pinset"
	if known {
		note = "key type not supported by SecKey"
	}
	return fmt.Sprintf("PinsetKeys.bundledCertificate(%s)", strconv.Quote(name)),
		fmt.Sprintf("%s (%s: bundle %s.cer)", q.Format(pin.OkHttp), note, name), nil
}

// bundledName is the resource name of the certificate that carries the key
// of pin q: "pinset-" and the first 16 hex digits of the pin.
func bundledName(q pin.Pin) string { return "pinset-" + hex.EncodeToString(q[:8]) }

func sortKeyed(hs []keyed, order map[string]int) {
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && order[hs[j].Pattern] < order[hs[j-1].Pattern]; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}
