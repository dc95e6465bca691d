package client

import "pinset.dev/pinset/enforce"

// CheckConnection makes the pin decision of [enforce.Enforcer.Check] with
// the client's pins in force, for a chain that the platform verified
// itself (an Android X509TrustManager, an Apple SecTrust; see package
// mobile). A failure is an [EventPinFailure] and a queued report, exactly
// as in a Go handshake; a report-only policy returns nil.
func (c *Client) CheckConnection(conn enforce.Connection) error { return c.enf.Check(conn) }
