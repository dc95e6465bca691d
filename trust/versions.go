package trust

// OlderRoot decides, before any signature is checked, whether root
// envelope b is an older root of s's app than the trusted one: it returns
// a *VersionError matching ErrRollback if so, and nil otherwise (a newer
// or equal version, or bytes that do not decode as a root of this app:
// UpdateRoot then says what is wrong with them). An older root's
// signatures may no longer verify under the trusted keys, so the client
// skips such a root from its cache, and the service names an upload of one
// a rollback rather than a signature failure, without verifying it.
func (s *State) OlderRoot(b []byte) error {
	r, _, err := DecodeRootUnverified(b)
	if err != nil || r.AppID != s.root.AppID || r.Version >= s.root.Version {
		return nil
	}
	return &VersionError{Document: "root", Got: r.Version, Trusted: s.root.Version, Err: ErrRollback}
}
