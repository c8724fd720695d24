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

func BenchmarkAppendCopyText(b *testing.B) {
	values := []string{"imp_em_2W1g9uAdeuVYag9gs3ZWkyocPy5_0123456789abcdef", "user_2W1g9uAdeuVYag9gs3ZWkyocPy5",
		"chlo.brown0@example.com", "verified", "Ana María"}
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = buf[:0]
		for _, v := range values {
			buf = appendCopyText(buf, v)
		}
	}
}
