// Package report reads pin-failure reports: the service's half of them.
//
// Real clients send three shapes: TrustKit iOS and TrustKit Android JSON and
// RFC 7469 (HPKP) JSON; pinset's own client sends TrustKit's shape too,
// built by package report/trustkit (the SDK's half, which does not link
// this parser). All of them are normalised into [Report]. The wire formats
// are described in docs/reports.md.
package report
