package repo_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayers guards the one-way dependencies of DESIGN.md section 2.
func TestLayers(t *testing.T) {
	const mod = "github.com/cairn-backup/cairn/"
	// package → cairn packages it may import directly ("*": any).
	allowed := map[string][]string{
		"pack":                  {},
		"chunker":               {},
		"repo/crypto":           {},
		"repo/backend":          {},
		"repo/parity":           {},
		"repo/profile":          {},
		"repo/termsafe":         {},
		"repo/backend/location": {"repo/backend"},
		"repo/backend/local":    {"repo/backend", "repo/backend/location"},
		"repo/backend/sftp":     {"repo/backend", "repo/backend/location"},
		"repo/backend/s3":       {"repo/backend", "repo/backend/location"},
		"repo/backend/rest":     {"repo/backend", "repo/backend/location"},
		"repo/backend/rclone":   {"repo/backend", "repo/backend/location", "repo/backend/rest"},
		"repo/backend/cache":    {"pack", "repo/backend"},
		"repo/backend/all": {"repo/backend/location", "repo/backend/local", "repo/backend/sftp", "repo/backend/s3",
			"repo/backend/rest", "repo/backend/rclone"},
		"index":         {"pack"},
		"repo":          {"pack", "index", "chunker", "repo/crypto", "repo/backend", "repo/backend/cache", "repo/parity"},
		"repo/snapshot": {"pack", "index", "repo", "repo/backend"},
		"repo/archiver": {"pack", "index", "repo", "repo/snapshot", "chunker"},
		"repo/restorer": {"pack", "index", "repo", "repo/crypto", "repo/snapshot"},
		"repo/checker":  {"pack", "index", "repo", "repo/backend", "repo/snapshot", "repo/parity"},
		"repo/pruner":   {"pack", "index", "repo", "repo/backend", "repo/snapshot"},
		"repo/copier":   {"pack", "index", "repo", "repo/backend", "repo/snapshot"},
		"repo/mountfs":  {"pack", "repo", "repo/backend", "repo/snapshot"},
		"repo/rewriter": {"pack", "repo", "repo/backend", "repo/snapshot"},
		"repo/repotest": {"pack", "repo", "repo/archiver", "repo/backend", "repo/backend/local", "repo/crypto", "repo/snapshot"},
		// The jobs commands run (backup, forget, copy, verify, the
		// nightly run, status) on top of the packages that do the work.
		"repo/job": {"pack", "repo", "repo/archiver", "repo/backend", "repo/checker", "repo/connect", "repo/copier", "repo/profile",
			"repo/pruner", "repo/restorer", "repo/snapshot"},
		// Opening a repository the one way: registry, wrappers, key hint, cache.
		"repo/connect":             {"repo", "repo/backend", "repo/backend/cache", "repo/backend/location", "repo/parity"},
		"repo/backend/backendtest": {"pack", "repo/backend"},
		// The repository server: storage through backends, nothing of a
		// repository's content (it can't read it: no key).
		"repo/server": {"repo/backend", "repo/backend/local"},
		// The command never touches the in-memory index: it works through
		// a repo.Session, which loads it after the lock.
		// Backends only through the registry: no backend switch here.
		"cmd/cairn": {"pack", "repo", "repo/archiver", "repo/backend", "repo/backend/all", "repo/backend/location",
			"repo/checker", "repo/connect", "repo/copier", "repo/crypto", "repo/job", "repo/parity", "repo/profile",
			"repo/mountfs", "repo/pruner", "repo/restorer", "repo/rewriter", "repo/server", "repo/snapshot", "repo/termsafe"},
		"scripts/gendata":  {},
		"scripts/htpasswd": {},
	}
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		ok, known := allowed[name]
		if !known {
			t.Errorf("package %s is not in the layer table; add it", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if dep == "cmd/cairn" {
				t.Errorf("%s imports the command", name)
			}
			if len(ok) == 1 && ok[0] == "*" {
				continue
			}
			if !contains(ok, dep) {
				t.Errorf("%s imports %s, which the layering forbids", name, dep)
			}
		}
	}
}

// TestCommandsUseSessions: nothing in cmd/cairn loads an index, reads the
// in-memory index, opens a blob store for writing or starts a session
// other than through withSession/inSession with a session made by one of
// the named helpers (cmd/cairn/lock.go), so every
// command takes its lock before the index is loaded and stops writing when
// the lock is lost.
func TestCommandsUseSessions(t *testing.T) {
	forbidden := map[string]string{
		"Index":         "reads the in-memory index",
		"LoadIndex":     "loads the index",
		"IndexFiles":    "reads, replaces or writes index files",
		"StartWriting":  "opens the blob store outside WithUploader",
		"NewSaver":      "writes blobs",
		"DropPacks":     "edits the index",
		"RequireLock":   "checks locks itself",
		"RemoveOrphans": "deletes outside the library",
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("../cmd/cairn/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no command sources: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			if lit, ok := n.(*ast.CompositeLit); ok {
				if id, ok := lit.Type.(*ast.Ident); ok && id.Name == "session" && !strings.HasSuffix(f, "lock.go") {
					t.Errorf("%s: cmd/cairn builds a session by hand: use reading, writing, exclusive or unlocked", fset.Position(lit.Pos()))
				}
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if why, bad := forbidden[sel.Sel.Name]; bad {
				t.Errorf("%s: cmd/cairn calls %s, which %s: use the library through a session", fset.Position(call.Pos()), sel.Sel.Name, why)
			}
			if sel.Sel.Name == "Begin" && !strings.HasSuffix(f, "lock.go") {
				t.Errorf("%s: cmd/cairn begins a session outside withSession", fset.Position(call.Pos()))
			}
			return true
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
