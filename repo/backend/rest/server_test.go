package rest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// memServer is a small in-memory server of the REST protocol, v2, for
// the tests: it records the requests it gets and can be append-only
// (then it refuses DELETE and overwriting POST with 403 and says so in
// the Cairn-Append-Only header of every response).
type memServer struct {
	mu         sync.Mutex
	files      map[string][]byte // "data/ab12…", "config"
	created    bool
	appendOnly bool
	user, pass string
	log        []string // "METHOD path"
}

func newMemServer(t *testing.T, m *memServer) *httptest.Server {
	if m.files == nil {
		m.files = map[string][]byte{}
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func (m *memServer) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.log
	m.log = nil
	return out
}

func (m *memServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, r.Method+" "+r.URL.RequestURI())
	if m.appendOnly {
		w.Header().Set("Cairn-Append-Only", "true")
	}
	if m.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != m.user || p != m.pass {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	if p == "" && r.Method == http.MethodPost && r.URL.Query().Get("create") == "true" {
		m.created = true
		return
	}
	typ, name, _ := strings.Cut(p, "/")
	switch {
	case r.Method == http.MethodGet && name == "" && typ != "config":
		if r.Header.Get("Accept") != "application/vnd.x.restic.rest.v2" {
			http.Error(w, "v1 not served", http.StatusBadRequest)
			return
		}
		type entry struct {
			Name string `json:"name"`
			Size int    `json:"size"`
		}
		list := []entry{}
		for k, v := range m.files {
			if t, n, ok := strings.Cut(k, "/"); ok && t == typ {
				list = append(list, entry{n, len(v)})
			}
		}
		w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v2")
		_ = json.NewEncoder(w).Encode(list)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		data, ok := m.files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	case r.Method == http.MethodPost:
		if _, exists := m.files[p]; exists && m.appendOnly && typ != "locks" {
			http.Error(w, "append-only", http.StatusForbidden)
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.files[p] = data
	case r.Method == http.MethodDelete:
		if m.appendOnly && typ != "locks" {
			http.Error(w, "append-only", http.StatusForbidden)
			return
		}
		if _, ok := m.files[p]; !ok {
			http.NotFound(w, r)
			return
		}
		delete(m.files, p)
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}
