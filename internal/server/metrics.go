package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisadehq/palisade/internal/httpx"
)

// RouteUnmatched is the route label of a request no route pattern matched:
// one value for every unknown path, so a scanner cannot grow the label set.
const RouteUnmatched = "unmatched"

// httpMetrics count requests by surface, route pattern and status class.
// The route is the pattern a mux matched, never the path, so a label
// value never carries an id.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	if reg == nil {
		return nil
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_http_requests_total",
			Help: "HTTP requests served, by surface, method, route pattern and status class."},
			[]string{"surface", "method", "route", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "palisade_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request (streamed replies included), by surface and route pattern.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"surface", "route"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered in
// its place: a second Server on one registry (a test) shares the families.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic("server: registering HTTP metrics: " + err.Error())
	}
	return c
}

// observe is the edge's hook, or nil without a registry.
func (m *httpMetrics) observe(defaultSurface string) func(httpx.RequestStats) {
	if m == nil {
		return nil
	}
	return func(st httpx.RequestStats) {
		surface := st.Surface
		if surface == "" {
			surface = defaultSurface
		}
		route := RouteLabel(st.Pattern)
		m.requests.WithLabelValues(surface, methodLabel(st.Method), route, codeClass(st.Status)).Inc()
		m.duration.WithLabelValues(surface, route).Observe(st.Duration.Seconds())
	}
}

// RouteLabel is the route label of a ServeMux pattern: its path part,
// without the method or host ("POST /api/v1/bots/{botId}" is
// "/api/v1/bots/{botId}"), or RouteUnmatched for none.
func RouteLabel(pattern string) string {
	if pattern == "" {
		return RouteUnmatched
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host before the path
	}
	return pattern
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func codeClass(status int) string {
	switch {
	case status >= 100 && status < 600:
		return string(rune('0'+status/100)) + "xx"
	}
	return "other"
}

// surfaceName names a mount for the surface label: "/api/" is "api", "/"
// the admin UI.
func surfaceName(pattern string) string {
	switch pattern {
	case "/":
		return "ui"
	case "/v1/":
		return "openai"
	case "/hooks/":
		return "webhook"
	case "/widget/", "/widget.js":
		return "widget"
	}
	name := strings.Trim(pattern, "/")
	if i := strings.IndexAny(name, "/."); i >= 0 {
		name = name[:i]
	}
	if name == "" {
		return "other"
	}
	return name
}
