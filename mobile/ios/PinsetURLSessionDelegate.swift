// PinsetURLSessionDelegate: pinset's check for URLSession. Not compiled in
// pinset's CI (see docs/mobile.md).
//
//     let delegate = PinsetURLSessionDelegate(client: client)
//     let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
//
// Subclass it (or forward to it from your own delegate) to handle other
// challenges.

import Foundation
import Mobile
import Security

open class PinsetURLSessionDelegate: NSObject, URLSessionDelegate {
    public let client: MobileClient

    public init(client: MobileClient) {
        self.client = client
    }

    /// Server trust challenges: the system verifies the chain for the host,
    /// pinset checks the verified chain, and the challenge is cancelled when
    /// either refuses. When both accept, the system's default handling goes on
    /// (App Transport Security, NSPinnedDomains), so pinset only ever adds a
    /// check. Other challenges get the default handling.
    ///
    /// urlSession(_:didReceive:completionHandler:) and
    /// NSURLAuthenticationMethodServerTrust:
    /// https://developer.apple.com/documentation/foundation/urlsessiondelegate/urlsession(_:didreceive:completionhandler:)
    /// and "Performing manual server trust authentication":
    /// https://developer.apple.com/documentation/foundation/performing-manual-server-trust-authentication
    open func urlSession(_ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
                         completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        let space = challenge.protectionSpace
        guard space.authenticationMethod == NSURLAuthenticationMethodServerTrust,
              let trust = space.serverTrust else {
            completionHandler(.performDefaultHandling, nil)
            return
        }
        do {
            try PinsetTrust.evaluate(client, trust: trust, host: space.host, port: space.port)
            completionHandler(.performDefaultHandling, nil)
        } catch {
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }
}
