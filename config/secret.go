package config

import (
	"log/slog"
	"net/url"
	"strings"
)

const redacted = "[redacted]"

// Secret is a string that prints as [redacted] in every format, log and
// error; Reveal gives the value to the code that needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the value from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Secrets is a list of signing secrets, comma- or space-separated in the
// environment so that an old and a new one can both verify during rotation.
type Secrets []Secret

// UnmarshalText splits the list.
func (ss *Secrets) UnmarshalText(b []byte) error {
	*ss = nil
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		*ss = append(*ss, Secret(f))
	}
	return nil
}

// Reveal returns the secrets' values.
func (ss Secrets) Reveal() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Reveal()
	}
	return out
}

// String says how many secrets there are, never what they are.
func (ss Secrets) String() string {
	if len(ss) == 0 {
		return ""
	}
	return strings.Repeat(redacted+",", len(ss)-1) + redacted
}

// GoString hides the values from %#v.
func (ss Secrets) GoString() string { return ss.String() }

// LogValue hides the values from slog.
func (ss Secrets) LogValue() slog.Value { return slog.StringValue(ss.String()) }

// URL is a connection URL whose credentials never print: neither the
// password of its userinfo nor any query parameter that may carry one.
type URL string

// Reveal returns the URL with its credentials.
func (u URL) Reveal() string { return string(u) }

// String returns the URL with the userinfo password and the value of every
// credential-bearing query parameter (see sensitiveParam) replaced by
// xxxxx; a URL that does not parse prints as [redacted] whole.
func (u URL) String() string {
	p, err := url.Parse(string(u))
	if err != nil {
		return redacted
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), hidden)
	}
	p.RawQuery = redactQuery(p.RawQuery)
	if p.Fragment != "" {
		p.Fragment, p.RawFragment = hidden, ""
	}
	return p.String()
}

// GoString hides the credentials from %#v.
func (u URL) GoString() string { return u.String() }

// LogValue hides the credentials from slog.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// hidden replaces a credential inside a URL, as url.URL.Redacted does.
const hidden = "xxxxx"

// redactQuery hides the values of the sensitive parameters of a raw query,
// leaving the others as they were written (order and escaping kept, so
// that what prints is recognisably the operator's URL).
func redactQuery(q string) string {
	if q == "" {
		return q
	}
	var b strings.Builder
	for q != "" {
		// Both separators: what one parser splits on, another may not.
		i := strings.IndexAny(q, "&;")
		pair, sep := q, ""
		if i >= 0 {
			pair, sep, q = q[:i], q[i:i+1], q[i+1:]
		} else {
			q = ""
		}
		key, _, hasValue := strings.Cut(pair, "=")
		if name, err := url.QueryUnescape(key); hasValue && (err != nil || sensitiveParam(name)) {
			pair = key + "=" + hidden
		}
		b.WriteString(pair)
		b.WriteString(sep)
	}
	return b.String()
}

// sensitiveParam reports whether a query parameter may hold a credential:
// a name (in any case) containing "pass" (password, sslpassword,
// sentinel_password, passfile), "pwd", "secret", "token", "key" (sslkey,
// which with sslinline=true is the private key itself; api_key), "auth" or
// "credential". Hiding a harmless value (a key file's path) costs nothing;
// printing a secret cannot be undone.
func sensitiveParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range [...]string{"pass", "pwd", "secret", "token", "key", "auth", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
