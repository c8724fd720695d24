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

// URL is a connection URL whose password never prints.
type URL string

// Reveal returns the URL with its password.
func (u URL) Reveal() string { return string(u) }

// String returns the URL with any password replaced by xxxxx.
func (u URL) String() string {
	p, err := url.Parse(string(u))
	if err != nil {
		return redacted
	}
	return p.Redacted()
}

// GoString hides the password from %#v.
func (u URL) GoString() string { return u.String() }

// LogValue hides the password from slog.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }
