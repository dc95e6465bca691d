// PinsetTrust: the check every iOS integration of pinset makes, after the
// platform verified the server's chain. Not compiled in pinset's CI (no Swift
// toolchain for iOS there): see docs/mobile.md. Needs iOS 15 (or macOS 12) for
// SecTrustCopyCertificateChain.
//
// `Mobile` is the framework `gomobile bind -target ios pinset.dev/pinset/mobile`
// builds; MobileClient.checkServerTrusted(_:port:verifiedChain:) is Go's
// Client.CheckServerTrusted: the pin decision of package enforce, with
// pinset's reports, report-only mode and events.

import Foundation
import Mobile
import Security

public enum PinsetTrustError: Error {
    /// The platform did not trust the chain (SecTrustEvaluateWithError's error).
    case notTrusted(host: String, underlying: Error?)
    /// The verified chain could not be read.
    case noChain(host: String)
    /// pinset refused the verified chain (a pin mismatch, or a bad chain).
    case pinning(host: String, underlying: Error)
}

public enum PinsetTrust {
    /// Verifies `trust` for `host` with the system's SSL policy, then checks
    /// pinset's pins on the chain the system verified. Throws when either
    /// refuses.
    ///
    /// - SecPolicyCreateSSL(true, host): the SSL server policy for that host
    ///   name (https://developer.apple.com/documentation/security/secpolicycreatessl(_:_:)),
    ///   set with SecTrustSetPolicies
    ///   (https://developer.apple.com/documentation/security/sectrustsetpolicies(_:_:)).
    /// - SecTrustEvaluateWithError: evaluates trust and returns true only when
    ///   the chain is trusted (iOS 12;
    ///   https://developer.apple.com/documentation/security/sectrustevaluatewitherror(_:_:)).
    /// - SecTrustCopyCertificateChain: after evaluation, the certificate chain
    ///   the trust object built, leaf first (iOS 15;
    ///   https://developer.apple.com/documentation/security/sectrustcopycertificatechain(_:)).
    ///   This is the VERIFIED chain; the certificates the server sent are not
    ///   evidence (CVE-2016-2402: any trusted CA's chain with the pinned
    ///   certificate appended).
    /// - SecCertificateCopyData: a certificate's DER encoding
    ///   (https://developer.apple.com/documentation/security/seccertificatecopydata(_:)).
    public static func evaluate(_ client: MobileClient, trust: SecTrust, host: String, port: Int) throws {
        let policies = SecPolicyCreateSSL(true, host as CFString)
        guard SecTrustSetPolicies(trust, policies) == errSecSuccess else {
            throw PinsetTrustError.notTrusted(host: host, underlying: nil)
        }
        var error: CFError?
        guard SecTrustEvaluateWithError(trust, &error) else {
            throw PinsetTrustError.notTrusted(host: host, underlying: error)
        }
        guard let chain = SecTrustCopyCertificateChain(trust) as? [SecCertificate], !chain.isEmpty else {
            throw PinsetTrustError.noChain(host: host)
        }
        var der = Data()
        for cert in chain {
            der.append(SecCertificateCopyData(cert) as Data)
        }
        do {
            try client.checkServerTrusted(host, port: port, verifiedChain: der)
        } catch {
            throw PinsetTrustError.pinning(host: host, underlying: error)
        }
    }
}
