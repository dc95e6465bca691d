package trust

import "slices"

// Signers lists who signed env, for auditors: the ids of keys of r whose
// signature over env verifies (any role, each once), and the other key
// ids on the envelope (keys r does not list, or signatures that do not
// verify). It decides nothing; VerifyRole does.
func (r *Root) Signers(env *Envelope) (valid, other []string) {
	msg := signedMessage{payloadType: env.PayloadType, payload: env.Payload}
	for _, s := range env.Signatures {
		if slices.Contains(valid, s.KeyID) {
			continue
		}
		if k := r.Key(s.KeyID); k != nil && k.verifyMessage(&msg, s.Sig) == nil {
			valid = append(valid, s.KeyID)
			continue
		}
		if !slices.Contains(other, s.KeyID) {
			other = append(other, s.KeyID)
		}
	}
	return valid, other
}
