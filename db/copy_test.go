package db

import "testing"

func TestAppendCopyTextEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"ada@example.com":         "ada@example.com",
		`a\b`:                     `a\\b`,
		"line\nbreak\r\ttab":      `line\nbreak\r\ttab`,
		"\\\\\n\n":                `\\\\\n\n`,
		"Zoë\t":                   `Zoë\t`,
		"\\N":                     `\\N`, // text, not COPY's NULL
		"end\\":                   `end\\`,
		"x\u2028y":                "x\u2028y",
		"mixed \\ and \t and \n.": `mixed \\ and \t and \n.`,
	} {
		if got := string(appendCopyText([]byte("prefix|"), in)); got != "prefix|"+want {
			t.Errorf("appendCopyText(%q) = %q, want %q", in, got, "prefix|"+want)
		}
	}
}
