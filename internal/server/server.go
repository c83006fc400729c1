// Package server runs Palisade's listeners: the public one (UI, API,
// webhooks, health) behind the edge of httpx, and the admin one (metrics,
// profiling) bound to loopback by default. It owns time-outs against slow
// clients, header limits, TLS settings and graceful shutdown.
//
// It must never serve metrics or profiling on the public listener, and
// never mount a surface without the edge in front of it.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palisadehq/palisade/internal/httpx"
)

// Time-outs against slow clients (R4). Writes get longer because replies
// stream from an LLM.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 5 * time.Minute
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// Check is one readiness check; detail is shown on /readyz.
type Check struct {
	Name  string
	Check func(ctx context.Context) (detail string, err error)
}

// Options configure the server.
type Options struct {
	Addr      string
	AdminAddr string // empty: no admin listener
	TLS       *tls.Config
	// RedirectAddr is a plain-HTTP listener that only redirects to HTTPS.
	RedirectAddr string
	Logger       *slog.Logger
	Proxies      *httpx.TrustedProxies
	// Mounts are the surfaces of the public listener, by path prefix
	// pattern ("/api/", "/"), each already in its error format.
	Mounts map[string]http.Handler
	// MaxBody is the largest request body the public listener reads at
	// all (0: httpx.DefaultMaxBody); a surface may refuse smaller bodies
	// itself with httpx.LimitBody.
	MaxBody int64
	// BodyLimits are the routes, by ServeMux pattern, allowed another
	// body limit than MaxBody: the document upload route alone.
	BodyLimits map[string]int64
	Ready      []Check
	Registry   *prometheus.Registry
	// SecurityTxt, when it names a contact, is served at
	// /.well-known/security.txt.
	SecurityTxt SecurityTxt
}

// Server is the running set of listeners.
type Server struct {
	opts     Options
	public   *http.Server
	admin    *http.Server
	redirect *http.Server

	mu        sync.Mutex
	addr      net.Addr
	adminAddr net.Addr
	errs      chan error
	stopOnce  sync.Once
	metrics   *httpMetrics
}

// New builds the server; Start binds and serves.
func New(opts Options) *Server {
	s := &Server{opts: opts, errs: make(chan error, 3), metrics: newHTTPMetrics(opts.Registry)}
	errLog := slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	s.public = &http.Server{
		Handler:           s.PublicHandler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		TLSConfig:         opts.TLS,
		ErrorLog:          errLog,
		// net/http would answer "OPTIONS *" itself, without the edge's
		// headers; httpx.Mux refuses it instead.
		DisableGeneralOptionsHandler: true,
	}
	if opts.AdminAddr != "" {
		s.admin = &http.Server{
			Handler:           s.AdminHandler(),
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          errLog,
		}
	}
	if opts.RedirectAddr != "" && opts.TLS != nil {
		s.redirect = &http.Server{
			// Even a redirect carries the edge's headers and request id.
			Handler:           httpx.Edge(httpx.EdgeConfig{Logger: opts.Logger, Proxies: opts.Proxies, Observe: s.metrics.observe("redirect"), Methods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}}, RedirectHandler()),
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      ReadTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          errLog,
		}
	}
	return s
}

// PublicHandler is the public listener's handler: health checks and the
// mounted surfaces, all behind the edge.
func (s *Server) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	// Registered for every method, so a surface mounted at "/" cannot take
	// the other methods over and answer them 404: they are 405 here.
	mux.Handle("/healthz", httpx.Surface("health", getOnly(writeAlive)))
	mux.Handle("/readyz", httpx.Surface("health", getOnly(s.ready)))
	if len(s.opts.SecurityTxt.Contacts) > 0 {
		mux.Handle("/.well-known/security.txt", httpx.Surface("well_known", getOnly(s.opts.SecurityTxt.serve)))
	}
	for pattern, h := range s.opts.Mounts {
		mux.Handle(pattern, httpx.Surface(surfaceName(pattern), h))
	}
	return httpx.Edge(httpx.EdgeConfig{Logger: s.opts.Logger, Proxies: s.opts.Proxies, MaxBody: s.opts.MaxBody, BodyLimits: s.opts.BodyLimits, Observe: s.metrics.observe("other")}, httpx.Mux(mux))
}

// getOnly serves GET and HEAD and answers 405 to every other method.
func getOnly(f http.HandlerFunc) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return httpx.MethodNotAllowed(http.MethodGet, http.MethodHead)
		}
		f(w, r)
		return nil
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	for _, c := range s.opts.Ready {
		detail, err := c.Check(ctx)
		switch {
		case err != nil:
			// The cause goes to the log only: it may name hosts or users.
			s.opts.Logger.WarnContext(ctx, "readiness check failed", "check", c.Name, "err", err)
			checks[c.Name] = "unavailable"
			status = http.StatusServiceUnavailable
		case detail != "":
			checks[c.Name] = detail
		default:
			checks[c.Name] = "ok"
		}
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	writeStatus(w, status, map[string]any{"status": state, "checks": checks})
}

// aliveBody is what writeStatus writes for {"status": "ok"}, made once: the
// liveness check is the most frequent request a load balancer sends.
const aliveBody = `{"status":"ok"}` + "\n"

// writeAlive answers a liveness check.
func writeAlive(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, aliveBody)
}

func writeStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// AdminHandler serves /metrics and /debug/pprof for operators.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	reg := s.opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	// /debug/pprof/cmdline is not served: it prints the process's
	// arguments, which may carry a secret given as a flag.
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", writeAlive)
	return httpx.Edge(httpx.EdgeConfig{Logger: s.opts.Logger, Methods: []string{http.MethodGet, http.MethodHead}, Observe: s.metrics.observe("admin")}, httpx.Mux(mux))
}

// RedirectHandler answers every plain-HTTP request with a redirect to the
// same host and path over HTTPS, and serves nothing else.
func RedirectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || !validHost(host) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

func validHost(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '[' || c == ']' || c == ':') {
			return false
		}
	}
	return true
}

// Start binds every listener and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	if s.opts.TLS != nil {
		ln = httpx.GuardTLSListener(ln, s.opts.TLS, MaxHeaderBytes, ReadHeaderTimeout)
	} else {
		ln = httpx.GuardListener(ln, MaxHeaderBytes)
	}
	go s.serve(s.public, ln)
	if s.admin != nil {
		aln, err := lc.Listen(ctx, "tcp", s.opts.AdminAddr)
		if err != nil {
			_ = s.public.Close()
			return fmt.Errorf("listening on admin address %s: %w", s.opts.AdminAddr, err)
		}
		s.mu.Lock()
		s.adminAddr = aln.Addr()
		s.mu.Unlock()
		go s.serve(s.admin, aln)
	}
	if s.redirect != nil {
		rln, err := lc.Listen(ctx, "tcp", s.opts.RedirectAddr)
		if err != nil {
			_ = s.public.Close()
			return fmt.Errorf("listening on redirect address %s: %w", s.opts.RedirectAddr, err)
		}
		go s.serve(s.redirect, httpx.GuardListener(rln, MaxHeaderBytes))
	}
	return nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.errs <- err
	}
}

// Err reports a listener that failed while serving.
func (s *Server) Err() <-chan error { return s.errs }

// Addr is the public listener's bound address.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// AdminAddr is the admin listener's bound address (nil when off).
func (s *Server) AdminAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminAddr
}

// Stop lets in-flight requests finish until ctx ends, then closes what is
// left. It is idempotent.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		var errs []error
		for _, srv := range []*http.Server{s.public, s.admin, s.redirect} {
			if srv == nil {
				continue
			}
			if e := srv.Shutdown(ctx); e != nil {
				_ = srv.Close()
				errs = append(errs, e)
			}
		}
		err = errors.Join(errs...)
	})
	return err
}
