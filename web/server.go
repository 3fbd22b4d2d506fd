// Package web serves keyledger over HTTP: health and readiness probes, and
// the command and query catalogue under /v1/, where the NATS subject
// keyledger.cmd.key.issue is POST /v1/cmd/key/issue.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

// Server is the HTTP server. Fill the fields, then Open.
type Server struct {
	Addr    string // host:port; port 0 picks a free one
	Service *commands.Service
	// Ready reports nil once the instance can answer correctly; /readyz
	// shows its error until then.
	Ready func() error
	// Verify serves POST /v1/verify.
	Verify http.Handler
	Logger *slog.Logger
	// Version is reported in the OpenAPI document.
	Version string
	// Metrics, if set, times every route and is served at /metrics.
	Metrics *Metrics
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout the
	// whole request with its body: a client trickling bytes cannot hold a
	// connection longer. WriteTimeout bounds a response (past the longest a
	// request may run), IdleTimeout a kept-alive connection, and
	// MaxHeaderBytes the headers' size.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxConns and MaxConnsPerAddr bound the HTTP connections open at
	// once, in all and per client address (an IPv6 /64 counting as one);
	// a connection past them is closed at once. Zero takes
	// DefaultMaxConns and DefaultMaxConnsPerAddr.
	MaxConns, MaxConnsPerAddr int
	// Live feeds GET /v1/live, the console's server-sent events; nil
	// answers 404 there.
	Live LiveFeed

	ln      net.Listener
	srv     *http.Server
	streams liveStreams
}

// NewServer returns a server for svc on addr.
func NewServer(addr string, svc *commands.Service, ready func() error) *Server {
	return &Server{Addr: addr, Service: svc, Ready: ready, Logger: slog.Default(),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: commands.RequestTimeout + 5*time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 16 << 10}
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		if s.Metrics != nil {
			h = s.Metrics.instrument(pattern, h)
		}
		mux.Handle(pattern, h)
	}
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}))
	if s.Verify != nil {
		handle("POST /v1/verify", s.Verify)
	}
	for _, ep := range commands.Endpoints() {
		handle("POST "+HTTPPath(ep.Name), s.endpoint(ep))
	}
	openapi := OpenAPI(s.Version)
	handle("GET /v1/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi)
	}))
	if s.Metrics != nil {
		handle("GET /metrics", s.Metrics.Handler())
	}
	mux.HandleFunc("GET /v1/live", s.live) // a stream: no duration metric
	mux.HandleFunc("/v1/", apiNotFound(mux))
	handle("GET /{$}", consoleHandler())
	handle("GET /console/", consoleHandler())
	return mux
}

// apiNotFound answers what no API route takes with the API's error JSON,
// not the mux's plain text: 405 (with Allow) for a route's path with
// another method, else 404 not_found.
func apiNotFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write(keyledger.ErrorJSON(keyledger.Errorf(keyledger.EInvalid, "%s %s: method not allowed; use %s", r.Method, shownPath(r.URL.Path), strings.Join(allow, " or "))))
			return
		}
		writeError(w, keyledger.Errorf(keyledger.ENotFound, "%s %s: no such API route (the routes are in /v1/openapi.json)", r.Method, shownPath(r.URL.Path)))
	}
}

func (s *Server) endpoint(ep commands.Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), commands.RequestTimeout)
		defer cancel()
		body, err := readBody(r)
		if err != nil {
			writeError(w, keyledger.Errorf(keyledger.EInvalid, "body: %v", err))
			return
		}
		ctx = commands.WithSource(ctx, "http "+r.RemoteAddr)
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			ctx = commands.WithClientAddr(ctx, ap.Addr())
		}
		auth, err := authorization(r)
		if err != nil {
			writeError(w, err)
			return
		}
		res, err := s.Service.Call(ctx, ep, auth, r.Header.Get("Idempotency-Key"), body)
		if err != nil {
			if keyledger.ErrorCode(err) == keyledger.EInternal {
				s.Logger.Error("request failed", "endpoint", ep.String(), "err", err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// tooLarge stands in for a body whose Content-Length is over the limit:
// Call still checks who may call before it refuses the size. It is only
// measured, never read or written.
var tooLarge = make([]byte, commands.MaxBody+1)

// readBody reads at most commands.MaxBody+1 bytes of r's body. A body
// declared larger is not read at all: net/http then sends no 100 Continue,
// so a client that asked with Expect: 100-continue hears the refusal
// instead of sending megabytes into a connection that will be reset.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > commands.MaxBody {
		return tooLarge, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, commands.MaxBody+1))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(keyledger.HTTPStatus(keyledger.ErrorCode(err)))
	_, _ = w.Write(keyledger.ErrorJSON(err))
}

// Open starts listening and serving in the background.
func (s *Server) Open() error {
	raw, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	total, perAddr := s.MaxConns, s.MaxConnsPerAddr
	if total <= 0 {
		total = DefaultMaxConns
	}
	if perAddr <= 0 {
		perAddr = DefaultMaxConnsPerAddr
	}
	refusals := &refusalLog{every: 10 * time.Second, log: func(n int64, addr string) {
		s.Logger.Warn("refused HTTP connections past the bounds on open connections", "refused", n, "last_client", addr,
			"max_conns", total, "max_conns_per_addr", perAddr)
	}}
	ln := newLimitListener(raw, total, perAddr, refusals.refused)
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: s.ReadHeaderTimeout, ReadTimeout: s.ReadTimeout,
		WriteTimeout: s.WriteTimeout, IdleTimeout: s.IdleTimeout, MaxHeaderBytes: s.MaxHeaderBytes}
	s.srv.RegisterOnShutdown(s.streams.endAll)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// URL is the base URL the server listens on.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops accepting requests and waits for those in flight.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// shownPath is a request path as an error may repeat it: not at all when
// it holds what looks like a token (a key pasted into the URL).
func shownPath(p string) string {
	if keyledger.LooksSecret(p) {
		return "(a path holding a token, not shown)"
	}
	return p
}

// authorization is the request's one Authorization header ("" if none). Two
// are refused: a proxy that reads or adds the last would disagree with
// keyledger, which would read the first, about who is calling.
func authorization(r *http.Request) (string, error) {
	switch v := r.Header.Values("Authorization"); len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", keyledger.Errorf(keyledger.EInvalid, "the request carries more than one Authorization header")
}
