package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus counters, served at /metrics to
// authenticated users.
type Metrics struct {
	requests *prometheus.CounterVec
	denied   *prometheus.CounterVec
	sent     *prometheus.CounterVec
	received *prometheus.CounterVec
	handler  http.Handler
}

// NewMetrics registers the counters in a registry of their own.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_serve_requests_total",
			Help: "Requests by method, file type and status code."}, []string{"method", "type", "code"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_serve_denied_total",
			Help: "Requests refused by authentication, append-only access, private repositories or the quota."}, []string{"method", "type"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_serve_sent_bytes_total",
			Help: "Bytes of response bodies by file type."}, []string{"type"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_serve_received_bytes_total",
			Help: "Bytes of accepted uploads by file type."}, []string{"type"}),
	}
	reg.MustRegister(m.requests, m.denied, m.sent, m.received)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *Metrics) count(method, what string, code int, sent, received int64, st *status) {
	if what == "" {
		what = "none"
	}
	// Labels come from a fixed set: a client choosing method names
	// must not grow the metrics without bound.
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(method, what, strconv.Itoa(code)).Inc()
	if st != nil && st.denied {
		m.denied.WithLabelValues(method, what).Inc()
	}
	m.sent.WithLabelValues(what).Add(float64(sent))
	if st == nil && method == http.MethodPost && received > 0 {
		m.received.WithLabelValues(what).Add(float64(received))
	}
}
