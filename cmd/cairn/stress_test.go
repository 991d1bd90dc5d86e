//go:build unix

package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStress is the randomized, seeded stress test of the real binary
// (issue 13). Three hosts with overlapping sources (shared files
// deduplicate across hosts) back up (full, differential, incremental)
// into repository A; forget with random policies, prune --grace 0, copy
// to repository B, repair index|snapshots|packs, check and restore run
// interleaved and concurrently (with --retry-lock), some with injected
// backend faults (errors before and after the operation, cut reads,
// broken listings, delays; binary built with the cairn_faults tag), some
// killed with SIGKILL at a random moment. Now and then a pack is damaged
// or deleted, sometimes left so for the next round's commands.
//
// A model records what every backup saw. After every round, with no
// faults: every snapshot of A and B restores exactly to its model (a
// repaired snapshot may differ only at the paths it lists as repaired);
// check exits 0, unless the round damaged a pack on purpose: then check
// exits 13 and every restore either exits 13 or is exact. A command that
// exits 0 with wrong content fails the test at once, and so does exit 13
// (damage) from any command while nothing was damaged.
//
// The default suite runs seeds for about 4 minutes, CAIRN_SOAK=1 for 8.
// CAIRN_STRESS_SEED=N runs seed N only (a failure prints its seed),
// CAIRN_STRESS_TIME=DURATION and CAIRN_STRESS_ROUNDS=N change the budget
// and the rounds per seed, CAIRN_STRESS_VERBOSE=1 logs every command and
// CAIRN_STRESS_KEEP=1 keeps the directories of a failed seed.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	t.Parallel()
	budget := 4 * time.Minute
	if os.Getenv("CAIRN_SOAK") == "1" {
		budget = 8 * time.Minute
	}
	if v := os.Getenv("CAIRN_STRESS_TIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CAIRN_STRESS_TIME: %v", err)
		}
		budget = d
	}
	rounds := 6
	if v := os.Getenv("CAIRN_STRESS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CAIRN_STRESS_ROUNDS: %v", err)
		}
		rounds = n
	}
	bin := filepath.Join(t.TempDir(), "cairn-faults")
	if out, err := exec.Command("go", "build", "-tags", "cairn_faults", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build cairn with faults: %v\n%s", err, out)
	}
	var seeds []uint64
	if v := os.Getenv("CAIRN_STRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_STRESS_SEED: %v", err)
		}
		seeds = []uint64{n}
		budget = 24 * time.Hour
	}
	deadline := time.Now().Add(budget)
	first := uint64(time.Now().UnixNano()%1000000) + 1
	for i := 0; ; i++ {
		seed := first + uint64(i)
		if seeds != nil {
			if i >= len(seeds) {
				break
			}
			seed = seeds[i]
		} else if time.Until(deadline) < 30*time.Second && i > 0 {
			break
		}
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("stress seed %d (reproduce: CAIRN_STRESS_SEED=%d go test ./cmd/cairn -run 'TestStress' -v)", seed, seed)
			w := newWorld(t, bin, seed)
			for r := 0; r < rounds && (seeds != nil || time.Now().Before(deadline) || r == 0); r++ {
				w.round(r)
			}
			t.Logf("seed %d: %d commands, %d snapshots checked, %d killed, %d with faults, %d damage rounds",
				seed, w.commands, w.verified, w.kills, w.faulted, w.damageRounds)
		})
		if !ok {
			break
		}
	}
}

// state is what a source tree holds: slash path → "d" or "f:" + SHA-256.
type state map[string]string

type damage struct {
	pack     string // path of the pack file
	original []byte
	deleted  bool
	op       int // backups after this op saw the damage
	left     int // rounds it stays
	fresh    bool
}

type world struct {
	t                      *testing.T
	bin, base, src         string
	repoA, repoB           string
	rnd                    *rand.Rand
	seed                   uint64
	hosts                  []string
	pool                   [][]byte
	op                     int
	expect                 map[string]state // backup tag → what it saw
	mu                     sync.Mutex
	log                    []string
	dmg                    *damage
	verbose                bool
	commands, verified     int
	kills, faulted         int
	damageRounds, restores int
}

func newWorld(t *testing.T, bin string, seed uint64) *world {
	base := t.TempDir()
	if os.Getenv("CAIRN_STRESS_KEEP") == "1" {
		var err error
		if base, err = os.MkdirTemp("", fmt.Sprintf("cairn-stress-%d-", seed)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !t.Failed() {
				os.RemoveAll(base)
			} else {
				t.Logf("kept %s", base)
			}
		})
	}
	w := &world{t: t, bin: bin, base: base, src: filepath.Join(base, "src"), repoA: filepath.Join(base, "a"), repoB: filepath.Join(base, "b"),
		rnd: rand.New(rand.NewPCG(seed, 0x5eed)), seed: seed, expect: map[string]state{}, verbose: os.Getenv("CAIRN_STRESS_VERBOSE") == "1"}
	for i := range 3 {
		w.hosts = append(w.hosts, fmt.Sprintf("h%d", i))
	}
	for i := range 12 {
		w.pool = append(w.pool, w.content(i))
	}
	w.must(w.run(w.repoA, "", "init", "--pack-size", "1"))
	w.must(w.run(w.repoB, "", "init", "--pack-size", "1"))
	for _, h := range w.hosts {
		for range 6 {
			w.mutate(h)
		}
	}
	return w
}

// content makes a file: mostly small, sometimes a few MiB; compressible
// or random.
func (w *world) content(i int) []byte {
	size := 1 + w.rnd.IntN(48<<10)
	if w.rnd.IntN(8) == 0 {
		size = 1<<20 + w.rnd.IntN(3<<20)
	}
	b := make([]byte, size)
	if w.rnd.IntN(2) == 0 {
		rand.NewChaCha8([32]byte{byte(i), byte(w.rnd.Uint32())}).Read(b)
	} else {
		for j := range b {
			b[j] = byte(j/97 + i)
		}
	}
	return b
}

// mutate changes host h's tree: new, changed, shared and removed files.
func (w *world) mutate(h string) {
	root := filepath.Join(w.src, h)
	dir := filepath.Join(root, fmt.Sprintf("d%d", w.rnd.IntN(4)))
	if w.rnd.IntN(3) == 0 {
		dir = filepath.Join(dir, fmt.Sprintf("sub%d", w.rnd.IntN(3)))
	}
	os.MkdirAll(dir, 0o755)
	name := filepath.Join(dir, fmt.Sprintf("f%d", w.rnd.IntN(12)))
	switch w.rnd.IntN(6) {
	case 0, 1: // a shared file: the same bytes on several hosts
		os.WriteFile(name, w.pool[w.rnd.IntN(len(w.pool))], 0o644)
	case 2, 3:
		w.op++
		os.WriteFile(name, w.content(w.op), 0o644)
	case 4: // append
		f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.Write(w.content(w.op + 1000))
			f.Close()
		}
	case 5:
		os.Remove(name)
	}
}

func scan(t *testing.T, root string) state {
	t.Helper()
	s := state{}
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return s // nothing restored there
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			s[filepath.ToSlash(rel)] = "d"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s[filepath.ToSlash(rel)] = "f:" + hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return s
}

type cmdResult struct {
	args   []string
	code   int
	killed bool
	stdout string
	stderr string
	faults bool
}

func (r cmdResult) String() string {
	return fmt.Sprintf("cairn %s: exit %d (killed %v, faults %v)\nstdout: %.2000s\nstderr: %.2000s", strings.Join(r.args, " "), r.code, r.killed, r.faults, r.stdout, r.stderr)
}

// run runs the binary on repository repo; faults is "" or SEED:RATE.
func (w *world) run(repo, faults string, args ...string) cmdResult {
	return w.runKill(repo, faults, -1, args...)
}

// runKill is run with a SIGKILL after kill (none if negative).
func (w *world) runKill(repo, faults string, kill time.Duration, args ...string) cmdResult {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.base, "XDG_CACHE_HOME=" + filepath.Join(w.base, "cache"),
		"CAIRN_REPOSITORY=" + repo, "CAIRN_PASSWORD=pw", "CAIRN_FROM_PASSWORD=pw"}
	if faults != "" {
		cmd.Env = append(cmd.Env, "CAIRN_TEST_FAULTS="+faults)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	killed := false
	var timer *time.Timer
	if kill >= 0 {
		timer = time.AfterFunc(kill, func() {
			w.mu.Lock()
			killed = true
			w.mu.Unlock()
			cmd.Process.Signal(syscall.SIGKILL)
		})
	}
	err := cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	if ctx.Err() != nil {
		w.t.Fatalf("seed %d: cairn %s hung for 4 minutes\nstderr: %s", w.seed, strings.Join(args, " "), errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r := cmdResult{args: append([]string{"[" + filepath.Base(repo) + "]"}, args...), code: code, killed: killed && code != 0, stdout: out.String(), stderr: errb.String(), faults: faults != ""}
	w.commands++
	line := fmt.Sprintf("%s -> %d", strings.Join(r.args, " "), code)
	if r.killed {
		line += " (killed)"
		w.kills++
	}
	if r.faults {
		line += " (faults " + faults + ")"
		w.faulted++
	}
	w.log = append(w.log, line)
	if w.verbose {
		w.t.Log(line)
	}
	return r
}

func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	w.mu.Lock()
	log := strings.Join(w.log[max(0, len(w.log)-60):], "\n  ")
	w.mu.Unlock()
	w.t.Fatalf("seed %d: %s\nlast commands:\n  %s", w.seed, fmt.Sprintf(format, args...), log)
}

func (w *world) must(r cmdResult) cmdResult {
	w.t.Helper()
	if r.code != 0 {
		w.fail("%v", r)
	}
	return r
}

// allowed fails the test on exit codes no situation explains: damage
// (13) while nothing was damaged, or a crash-like code.
func (w *world) allowed(r cmdResult) {
	w.t.Helper()
	if r.killed {
		return
	}
	switch r.code {
	case 0, 130:
		return
	case 1, 11:
		// The storage failed after its retries, or the lock couldn't be
		// refreshed through it: only with faults.
		if r.faults {
			return
		}
	case 13:
		if w.dmg != nil {
			return
		}
		w.fail("damage reported while none was injected: %v", r)
	}
	w.fail("unexpected exit: %v", r)
}

type snap struct {
	ID      string   `json:"id"`
	Tags    []string `json:"tags"`
	Paths   []string `json:"paths"`
	Summary struct {
		Repaired []string `json:"repaired"`
	} `json:"summary"`
}

func (w *world) snapshots(repo string) []snap {
	w.t.Helper()
	r := w.must(w.run(repo, "", "snapshots", "--json"))
	var sns []snap
	if err := json.Unmarshal([]byte(r.stdout), &sns); err != nil {
		w.fail("snapshots --json: %v", err)
	}
	return sns
}

func (s snap) opTag() string {
	for _, t := range s.Tags {
		if strings.HasPrefix(t, "op-") {
			return t
		}
	}
	return ""
}

// restoreCheck restores sn of repo and compares it with its model. It
// returns the command's result; exit 0 with content other than the model
// fails.
func (w *world) restoreCheck(repo string, sn snap, faults string, kill time.Duration) cmdResult {
	w.t.Helper()
	want, ok := w.expect[sn.opTag()]
	if !ok || len(sn.Paths) != 1 {
		w.fail("snapshot %s of %s has no model (tags %v, paths %v)", sn.ID[:8], filepath.Base(repo), sn.Tags, sn.Paths)
	}
	w.mu.Lock()
	w.restores++
	target := filepath.Join(w.base, fmt.Sprintf("restore-%d", w.restores))
	w.mu.Unlock()
	defer os.RemoveAll(target)
	r := w.runKill(repo, faults, kill, "restore", sn.ID, "--target", target, "--retry-lock", "3m")
	if r.code != 0 {
		if r.code == 13 && w.dmg == nil && faults == "" && !r.killed {
			w.fail("restore of %s reports damage while none was injected: %v", sn.ID[:8], r)
		}
		return r
	}
	got := scan(w.t, filepath.Join(target, sn.Paths[0]))
	// A repaired snapshot may differ at the paths it lists.
	var truncated, lost []string
	for _, p := range sn.Summary.Repaired {
		i := strings.LastIndex(p, " (")
		if i < 0 {
			w.fail("repaired path %q has no reason", p)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p[:i], sn.Paths[0]), "/")
		if src := sn.Paths[0]; p[:i] == "/" || strings.HasPrefix(src, p[:i]+"/") {
			// A directory above the source (the path's own parents in
			// the snapshot) was lost: so was everything in the source.
			rel = ""
		}
		if strings.Contains(p[i:], "directory lost") {
			lost = append(lost, rel)
		} else {
			truncated = append(truncated, rel)
		}
	}
	under := func(p string) bool {
		for _, l := range lost {
			if l == "" || p == l || strings.HasPrefix(p, l+"/") {
				return true
			}
		}
		return false
	}
	for p, h := range want {
		g, ok := got[p]
		switch {
		case p == "." || (ok && g == h) || under(p):
		case ok && slices.Contains(truncated, p) && h != "d":
		default:
			w.fail("restore of %s (%s) exited 0 but %s is %q, want %q (repaired %v): %v", sn.ID[:8], filepath.Base(repo), p, g, h, sn.Summary.Repaired, r)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			w.fail("restore of %s exited 0 with %s, which the backup never saw", sn.ID[:8], p)
		}
	}
	w.verified++
	return r
}

func (w *world) faults() string {
	if w.rnd.IntN(10) >= 3 {
		return ""
	}
	rates := []string{"0.02", "0.05", "0.1", "0.3"}
	return fmt.Sprintf("%d:%s", w.rnd.Uint32(), rates[w.rnd.IntN(len(rates))])
}

func (w *world) kill() time.Duration {
	if w.rnd.IntN(8) != 0 {
		return -1
	}
	return time.Duration(20+w.rnd.IntN(1200)) * time.Millisecond
}

// operation picks one random command and returns it ready to run.
func (w *world) operation() func() {
	faults, kill := w.faults(), w.kill()
	retry := []string{"--retry-lock", "3m"}
	switch k := w.rnd.IntN(20); {
	case k < 7:
		h := w.hosts[w.rnd.IntN(len(w.hosts))]
		w.op++
		tag := fmt.Sprintf("op-%d", w.op)
		w.expect[tag] = scan(w.t, filepath.Join(w.src, h))
		args := append([]string{"backup", "-q", "--host", h, "--tag", tag}, retry...)
		switch w.rnd.IntN(4) {
		case 0:
			args = append(args, "--full")
		case 1:
			args = append(args, "--differential")
		}
		args = append(args, filepath.Join(w.src, h))
		return func() { w.allowed(w.runKill(w.repoA, faults, kill, args...)) }
	case k < 9:
		args := append([]string{"forget", "-q", "--keep-last", strconv.Itoa(1 + w.rnd.IntN(4))}, retry...)
		if w.rnd.IntN(2) == 0 {
			args = append(args, "--host", w.hosts[w.rnd.IntN(len(w.hosts))])
		}
		repo := w.repoA
		if w.rnd.IntN(4) == 0 {
			repo = w.repoB
		}
		return func() { w.allowed(w.runKill(repo, faults, kill, args...)) }
	case k < 11:
		repo := w.repoA
		if w.rnd.IntN(4) == 0 {
			repo = w.repoB
		}
		args := append([]string{"prune", "-q", "--grace", "0"}, retry...)
		return func() { w.allowed(w.runKill(repo, faults, kill, args...)) }
	case k < 13:
		args := append([]string{"copy", "-q", "--from-repo", w.repoA}, retry...)
		return func() { w.allowed(w.runKill(w.repoB, faults, kill, args...)) }
	case k < 14:
		args := append([]string{"repair", "index"}, retry...)
		return func() { w.allowed(w.runKill(w.repoA, faults, kill, args...)) }
	case k < 15:
		args := append([]string{"repair", "snapshots", "--forget"}, retry...)
		return func() { w.allowed(w.runKill(w.repoA, faults, kill, args...)) }
	case k < 16:
		packs := w.packs(w.repoA)
		if len(packs) == 0 {
			return func() {}
		}
		p := filepath.Base(packs[w.rnd.IntN(len(packs))])
		args := append([]string{"repair", "packs", p}, retry...)
		return func() {
			r := w.runKill(w.repoA, faults, kill, args...)
			if r.code == 1 && strings.Contains(r.stderr, "no pack") {
				return // pruned meanwhile
			}
			w.allowed(r)
		}
	case k < 18:
		args := append([]string{"check"}, retry...)
		if w.rnd.IntN(2) == 0 {
			args = append(args, "--read-data")
		}
		return func() { w.allowed(w.runKill(w.repoA, faults, kill, args...)) }
	default:
		sns := w.snapshots(w.repoA)
		if len(sns) == 0 {
			return func() {}
		}
		sn := sns[w.rnd.IntN(len(sns))]
		return func() {
			r := w.restoreCheck(w.repoA, sn, faults, kill)
			if r.code == 1 && (strings.Contains(r.stderr, "no snapshots file") ||
				strings.Contains(r.stderr, "load snapshot") && strings.Contains(r.stderr, "no such file")) {
				return // forgotten meanwhile (before or after it was found)
			}
			w.allowed(r)
		}
	}
}

func (w *world) packs(repo string) []string {
	var out []string
	filepath.WalkDir(filepath.Join(repo, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && len(d.Name()) == 64 {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func (w *world) round(n int) {
	w.t.Helper()
	for _, h := range w.hosts {
		for range 1 + w.rnd.IntN(4) {
			w.mutate(h)
		}
	}
	// Interleaved: a few commands one after another.
	for range 1 + w.rnd.IntN(3) {
		w.operation()()
	}
	// Concurrent: several at once.
	batch := make([]func(), 2+w.rnd.IntN(4))
	for i := range batch {
		batch[i] = w.operation()
	}
	var wg sync.WaitGroup
	for _, f := range batch {
		wg.Go(f)
	}
	wg.Wait()
	if w.t.Failed() {
		w.t.FailNow()
	}
	w.verify(n)
}

// verify checks the round's end state without faults or kills.
func (w *world) verify(n int) {
	w.t.Helper()
	// A killed command's lock is removed as stale by the next command
	// on this host; a killed backup's files are left for prune.
	if w.dmg == nil {
		for _, repo := range []string{w.repoA, w.repoB} {
			if r := w.run(repo, "", "check", "--read-data"); r.code != 0 {
				w.fail("check after round %d: %v", n, r)
			}
		}
	} else {
		r := w.run(w.repoA, "", "check", "--read-data")
		switch {
		case r.code == 13:
		case r.code == 0 && !w.dmg.fresh:
			// The round's prune or repairs removed the damage.
			w.dmg = nil
		default:
			w.fail("check of a repository with a damaged pack: %v", r)
		}
		w.must(w.run(w.repoB, "", "check", "--read-data"))
		if w.dmg != nil {
			w.dmg.fresh = false
		}
	}
	for _, repo := range []string{w.repoA, w.repoB} {
		for _, sn := range w.snapshots(repo) {
			code := w.restoreCheck(repo, sn, "", -1).code
			switch {
			case code == 0:
			case code == 13 && w.dmg != nil && repo == w.repoA:
				op, _ := strconv.Atoi(strings.TrimPrefix(sn.opTag(), "op-"))
				if w.dmg.deleted && op > w.dmg.op && len(sn.Summary.Repaired) == 0 {
					w.fail("snapshot %s was made after pack %s vanished, yet it needs it", sn.ID[:8], filepath.Base(w.dmg.pack))
				}
			default:
				w.fail("restore of %s (%s) exited %d", sn.ID[:8], filepath.Base(repo), code)
			}
		}
	}
	if w.dmg != nil {
		w.dmg.left--
		if w.dmg.left <= 0 {
			w.heal()
		}
	}
	if w.dmg == nil && w.rnd.IntN(5) == 0 {
		w.injectDamage()
		w.verify(n)
	}
}

// injectDamage flips bytes in, or deletes, a random pack of A.
func (w *world) injectDamage() {
	packs := w.packs(w.repoA)
	if len(packs) == 0 {
		return
	}
	p := packs[w.rnd.IntN(len(packs))]
	b, err := os.ReadFile(p)
	if err != nil {
		w.t.Fatal(err)
	}
	d := &damage{pack: p, original: b, op: w.op, left: 1 + w.rnd.IntN(2), fresh: true, deleted: w.rnd.IntN(2) == 0}
	w.damageRounds++
	if d.deleted {
		err = os.Remove(p)
	} else {
		c := bytes.Clone(b)
		at := w.rnd.IntN(len(c))
		c[at] ^= 0x55
		err = os.WriteFile(p, c, 0o644)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.log = append(w.log, fmt.Sprintf("damage: pack %s %s", filepath.Base(p)[:8], map[bool]string{true: "deleted", false: "flipped"}[d.deleted]))
	w.mu.Unlock()
	w.dmg = d
}

// heal ends a damage: the pack is put back, or the repairs cut the damage
// out of the snapshots. Either way check must be clean afterwards.
func (w *world) heal() {
	d := w.dmg
	if w.rnd.IntN(2) == 0 {
		// Put it back, if prune or repair didn't remove it meanwhile
		// (then the repairs below are the way).
		if _, err := os.Stat(d.pack); err == nil || d.deleted {
			os.MkdirAll(filepath.Dir(d.pack), 0o755)
			if err := os.WriteFile(d.pack, d.original, 0o644); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	w.dmg = nil
	if r := w.run(w.repoA, "", "check", "--read-data"); r.code == 0 {
		return
	}
	if _, err := os.Stat(d.pack); err == nil {
		w.must(w.run(w.repoA, "", "repair", "packs", filepath.Base(d.pack)))
	}
	w.must(w.run(w.repoA, "", "repair", "index"))
	w.must(w.run(w.repoA, "", "repair", "snapshots", "--forget"))
	if r := w.run(w.repoA, "", "check", "--read-data"); r.code != 0 {
		w.fail("check after the repairs: %v", r)
	}
}
