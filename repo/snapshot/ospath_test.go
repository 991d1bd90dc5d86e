package snapshot

import "testing"

func TestSlashPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, in, want string
		ok             bool
	}{
		{"linux", "/home/ann/x", "/home/ann/x", true},
		{"linux", "/", "/", true},
		{"darwin", "relative", "relative", false},
		{"windows", `C:\Users\ann`, "/C/Users/ann", true},
		{"windows", `c:\Users\ann\`, "/C/Users/ann", true},
		{"windows", `D:\`, "/D", true},
		{"windows", `C:`, "/C", true},
		{"windows", `C:foo`, "", false},
		{"windows", `\\server\share\dir\f.txt`, "/UNC/server/share/dir/f.txt", true},
		{"windows", `\\server\share`, "/UNC/server/share", true},
		{"windows", `\\server`, "", false},
		{"windows", `\\?\C:\very\long`, "/C/very/long", true},
		{"windows", `\\?\UNC\server\share\x`, "/UNC/server/share/x", true},
		{"windows", `\Users\ann`, "", false},
		{"windows", `relative\x`, "", false},
	}
	for _, tc := range tests {
		got, ok := SlashPath(tc.goos, tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SlashPath(%s, %q) = %q, %v; want %q, %v", tc.goos, tc.in, got, ok, tc.want, tc.ok)
		}
		if !ok || tc.goos != "windows" {
			continue
		}
		back, ok := OSPath(tc.goos, got)
		if !ok {
			t.Errorf("OSPath(%q) not ok", got)
			continue
		}
		if again, _ := SlashPath(tc.goos, back); again != got {
			t.Errorf("SlashPath(OSPath(%q)) = %q (via %q)", got, again, back)
		}
	}
}

func TestOSPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, in, want string
		ok             bool
	}{
		{"linux", "/etc/hosts", "/etc/hosts", true},
		{"windows", "/C", `C:\`, true},
		{"windows", "/C/Users/ann", `C:\Users\ann`, true},
		{"windows", "/", "", false},
		{"windows", "/UNC", "", false},
		{"windows", "/UNC/server", "", false},
		{"windows", "/UNC/server/share", `\\server\share\`, true},
		{"windows", "/UNC/server/share/d/f", `\\server\share\d\f`, true},
		{"windows", "/notadrive/x", "", false},
	}
	for _, tc := range tests {
		got, ok := OSPath(tc.goos, tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("OSPath(%s, %q) = %q, %v; want %q, %v", tc.goos, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
