// Package redact removes secrets from URLs before they reach a message, an
// event, a log line or an error that pinset prints.
//
// A URL may carry credentials in its user info (http://user:password@host/)
// and tokens in its query string or fragment (?key=..., #access_token=...).
// Messages keep the scheme, host, port and path, which is what a person
// needs to tell which endpoint failed, and replace the rest with
// "redacted":
//
//	redact.URL("http://user:pw@127.0.0.1:1/v1?key=k") == "http://redacted@127.0.0.1:1/v1?redacted"
//
// [Text] does the same for every URL inside a longer text (an error
// message from net/http quotes the request URL, query included), and
// [Error] wraps an error so that its message is redacted while errors.Is
// and errors.As still see the original chain.
package redact

import (
	"errors"
	"strings"
)

// Placeholder replaces user info, a query string and a fragment.
const Placeholder = "redacted"

// URL returns rawURL with its user info, query string and fragment
// replaced by [Placeholder]. Anything that is not an absolute URL is
// returned by [Text]'s rules (URLs inside it are redacted).
func URL(rawURL string) string { return Text(rawURL) }

// Text returns s with every URL in it ("scheme://" up to white space or a
// quote) redacted as [URL] describes. User info is taken to end at the last
// '@' before the query, so a password holding an unescaped '/' is hidden
// too (at the price of hiding a path containing '@').
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		// The scheme: letters, digits, + - . before "://", starting with a letter.
		start := i
		for start > 0 && isSchemeChar(s[start-1]) {
			start--
		}
		for start < i && !isLetter(s[start]) {
			start++
		}
		end := i + 3
		for end < len(s) && !isDelim(s[end]) {
			end++
		}
		if start == i { // no scheme: not a URL, keep "://" and go on
			b.WriteString(s[:i+3])
			s = s[i+3:]
			continue
		}
		b.WriteString(s[:start])
		tok := s[start:end]
		// Punctuation after a URL in a sentence is not part of it.
		trail := len(tok)
		for trail > i-start+3 && strings.IndexByte(".,:;)]}", tok[trail-1]) >= 0 {
			trail--
		}
		b.WriteString(redactToken(tok[:trail], i-start))
		b.WriteString(tok[trail:])
		s = s[end:]
	}
}

// redactToken redacts one URL; sep is the index of "://" in u.
func redactToken(u string, sep int) string {
	rest := u[sep+3:]
	tail := ""
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		if rest[q] == '?' {
			tail = "?" + Placeholder
		} else {
			tail = "#" + Placeholder
		}
		rest = rest[:q]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = Placeholder + rest[at:]
	}
	return u[:sep+3] + rest + tail
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isDelim ends a URL inside text: white space, quotes, angle brackets and
// control characters.
func isDelim(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' || c == 0x7f
}

// Error returns err with a redacted message: its Error() is [Text] of
// err's, and Unwrap returns err, so errors.Is and errors.As still find the
// sentinels and types inside. It returns nil for nil, and err itself when
// its message holds no URL.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Text(msg)
	if red == msg {
		return err
	}
	var r *redacted
	if errors.As(err, &r) && r.msg == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
