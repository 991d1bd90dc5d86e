package repotest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PlantRestic lays out at dir what `restic init` leaves in a local
// repository: an (encrypted, here random) config, one key file named by
// its SHA-256 with restic's scrypt parameters, data/00 to data/ff and the
// empty index, snapshots and locks directories.
func PlantRestic(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{"keys", "index", "snapshots", "locks"} {
		mkdirs(t, filepath.Join(dir, d))
	}
	for i := range 256 {
		mkdirs(t, filepath.Join(dir, "data", fmt.Sprintf("%02x", i)))
	}
	key, err := json.Marshal(map[string]any{"created": time.Now(), "username": "root", "hostname": "host",
		"kdf": "scrypt", "N": 32768, "r": 8, "p": 5, "salt": random(t, 64), "data": random(t, 112)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(key)
	writeFile(t, filepath.Join(dir, "keys", hex.EncodeToString(sum[:])), key)
	writeFile(t, filepath.Join(dir, "config"), random(t, 155))
}

// ResticInit runs `restic init` at dir. Without a restic binary (on PATH
// or in $GOPATH/bin, ~/go/bin) the test is skipped, or fails when CI is
// set: there it must run.
func ResticInit(t testing.TB, dir string) {
	t.Helper()
	bin := resticBinary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no restic binary (go install github.com/restic/restic/cmd/restic@v0.19.1)")
		}
		t.Skip("no restic binary")
	}
	cmd := exec.Command(bin, "init", "--repo", dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "RESTIC_PASSWORD=restic-pw"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restic init: %v\n%s", err, out)
	}
}

func resticBinary() string {
	if p, err := exec.LookPath("restic"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "restic")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func mkdirs(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o400); err != nil {
		t.Fatal(err)
	}
}

func random(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
