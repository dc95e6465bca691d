// PinsetTrustEvaluator: pinset's check as an Alamofire 5 ServerTrustEvaluating.
// Not compiled in pinset's CI (see docs/mobile.md).
//
//     let session = Session(serverTrustManager: PinsetServerTrustManager(client: client))
//
// Alamofire's ServerTrustManager maps exact host names to evaluators
// (serverTrustEvaluator(forHost:) is open for subclasses;
// https://github.com/Alamofire/Alamofire/blob/master/Source/Features/ServerTrustEvaluation.swift);
// PinsetServerTrustManager answers with pinset's evaluator for every host,
// since pinset itself knows which hosts have policies (wildcards, most
// specific wins) and passes the others.

import Alamofire
import Foundation
import Mobile
import Security

/// ServerTrustEvaluating.evaluate(_:forHost:) throws to refuse the trust.
/// Alamofire gives no port: reports carry port 0.
public final class PinsetTrustEvaluator: ServerTrustEvaluating, @unchecked Sendable {
    private let client: MobileClient

    public init(client: MobileClient) {
        self.client = client
    }

    public func evaluate(_ trust: SecTrust, forHost host: String) throws {
        do {
            try PinsetTrust.evaluate(client, trust: trust, host: host, port: 0)
        } catch {
            throw AFError.serverTrustEvaluationFailed(reason: .customEvaluationFailed(error: error))
        }
    }
}

/// A ServerTrustManager whose evaluator for every host is pinset's.
public final class PinsetServerTrustManager: ServerTrustManager, @unchecked Sendable {
    private let evaluator: PinsetTrustEvaluator

    public init(client: MobileClient) {
        evaluator = PinsetTrustEvaluator(client: client)
        super.init(allHostsMustBeEvaluated: true, evaluators: [:])
    }

    override public func serverTrustEvaluator(forHost host: String) throws -> (any ServerTrustEvaluating)? {
        evaluator
    }
}
