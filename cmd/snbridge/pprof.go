package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// pprofShutdownTimeout bounds how long a stopping pprof server waits for
// a profile being served (a CPU profile runs for its ?seconds=).
const pprofShutdownTimeout = 2 * time.Second

// pprofParts returns the part that serves net/http/pprof on addr (the
// --pprof flag), or none when addr is empty. The handlers are on their
// own mux: nothing else is served there. It is a debugging aid: bind it
// to loopback, since profiles expose the process's internals.
func pprofParts(addr string, log zerolog.Logger) []func(context.Context) error {
	if addr == "" {
		return nil
	}
	return []func(context.Context) error{func(ctx context.Context) error {
		return servePprof(ctx, addr, log)
	}}
}

// servePprof serves the pprof handlers on addr until ctx is cancelled,
// then shuts the server down; it fails when addr cannot be bound.
func servePprof(ctx context.Context, addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	return servePprofOn(ctx, ln, log)
}

// servePprofOn is servePprof on a bound listener, which it closes.
func servePprofOn(ctx context.Context, ln net.Listener, log zerolog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info().Str("component", "pprof").Stringer("addr", ln.Addr()).Msg("pprof listening")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // Serve failed on its own
		return fmt.Errorf("pprof: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), pprofShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // a long profile request: cut it
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof: %w", err)
	}
	return nil
}
