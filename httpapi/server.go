// Package httpapi serves Strata over HTTP: the inspection JSON API and page,
// the Panko v2 and Kronos-style event endpoints, /healthz and /metrics.
package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-dataspace/strata/dataspace"
)

// Version is reported by the version document and /healthz.
var Version = "0.1.0"

// Config configures a Server. The zero value is ready to use.
type Config struct {
	// Logger gets request errors. Nil discards them.
	Logger hclog.Logger
	// Gatherer is what /metrics exposes. Nil means the default registry.
	Gatherer prometheus.Gatherer
	// Token, when set, is required in the X-Auth-Token header of the event
	// API. Empty means no authentication.
	Token string
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
}

// Server is the HTTP handler of strata serve and strata run.
type Server struct {
	space *dataspace.DataSpace
	cfg   Config
	log   hclog.Logger
	mux   *http.ServeMux
}

// New returns a Server over space.
func New(space *dataspace.DataSpace, cfg *Config) *Server {
	s := &Server{space: space, mux: http.NewServeMux()}
	if cfg != nil {
		s.cfg = *cfg
	}
	s.log = s.cfg.Logger
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.cfg.Gatherer == nil {
		s.cfg.Gatherer = prometheus.DefaultGatherer
	}
	if s.cfg.Clock == nil {
		s.cfg.Clock = time.Now
	}
	s.routes()
	return s
}

// ServeHTTP dispatches a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	s.inspectRoutes()
	s.eventRoutes()
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.space.DataSource().SchemaVersion(r.Context()); err != nil {
		s.log.Error("health check failed", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": Version, "backend": s.space.Backend()})
}

// writeJSON writes v as the JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
