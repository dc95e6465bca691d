package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
)

// TokenPrefix starts every admin token, so that secret scanners and people
// recognise one.
const TokenPrefix = "pinset_"

// TokenHash is the SHA-256 of a token; only hashes are stored.
type TokenHash [sha256.Size]byte

// HashToken returns the stored form of a token.
func HashToken(secret string) TokenHash { return sha256.Sum256([]byte(secret)) }

// NewToken returns a fresh token (prefix and 32 random bytes, base64url)
// and its hash. rnd nil means crypto/rand.
func NewToken(rnd io.Reader) (secret string, hash TokenHash, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", TokenHash{}, err
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret), nil
}

// matchToken is the one place a presented token is compared with stored
// hashes: every live hash is compared, each in constant time, so timing
// says nothing about which (or whether any) matched.
func matchToken(secret string, names []string, hashes []string) (string, bool) {
	h := HashToken(strings.TrimSpace(secret))
	want := []byte(hex.EncodeToString(h[:]))
	found := -1
	for i, s := range hashes {
		if subtle.ConstantTimeCompare(want, []byte(s)) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return names[found], true
}
