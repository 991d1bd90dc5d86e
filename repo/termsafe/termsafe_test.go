package termsafe

import "testing"

func TestTermSafe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, name, msg string
	}{
		{"plain name.txt", "plain name.txt", "plain name.txt"},
		{"grüße 日本", "grüße 日本", "grüße 日本"},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`, `\x1b[2J\x1b]0;pwned\x07`},
		{"a\nb\tc", `a\x0ab\x09c`, "a\nb\tc"},
		{"cr\rdel\x7f", `cr\x0ddel\x7f`, `cr\x0ddel\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`, `c1 \u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`, `bidi \u202egnp.exe`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`, `bad \xff\xfe utf-8`},
	}
	for _, tt := range tests {
		if got := String(tt.in, false); got != tt.name {
			t.Errorf("String(%q, false) = %q, want %q", tt.in, got, tt.name)
		}
		if got := String(tt.in, true); got != tt.msg {
			t.Errorf("String(%q, true) = %q, want %q", tt.in, got, tt.msg)
		}
	}
}
