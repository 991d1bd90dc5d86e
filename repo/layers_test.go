package repo_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestLayers guards the one-way dependencies of DESIGN.md section 2.
func TestLayers(t *testing.T) {
	const mod = "github.com/cairn-backup/cairn/"
	// package → cairn packages it may import directly ("*": any).
	allowed := map[string][]string{
		"pack":                     {},
		"chunker":                  {},
		"repo/crypto":              {},
		"repo/backend":             {},
		"repo/parity":              {},
		"repo/profile":             {},
		"repo/backend/local":       {"repo/backend"},
		"repo/backend/sftp":        {"repo/backend"},
		"repo/backend/s3":          {"repo/backend"},
		"index":                    {"pack"},
		"repo":                     {"pack", "index", "chunker", "repo/crypto", "repo/backend", "repo/parity"},
		"repo/snapshot":            {"pack", "index", "repo", "repo/backend"},
		"repo/archiver":            {"pack", "repo", "repo/snapshot", "chunker"},
		"repo/restorer":            {"pack", "index", "repo", "repo/snapshot"},
		"repo/checker":             {"pack", "index", "repo", "repo/backend", "repo/snapshot", "repo/parity"},
		"repo/pruner":              {"pack", "index", "repo", "repo/backend", "repo/snapshot"},
		"repo/copier":              {"pack", "index", "repo", "repo/backend", "repo/snapshot"},
		"repo/repotest":            {"repo", "repo/crypto", "repo/backend/local"},
		"repo/backend/backendtest": {"pack", "repo/backend"},
		"cmd/cairn":                {"*"},
		"scripts/gendata":          {},
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
