package embedded

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// gatedHandler passes mochi's slog records on until off is set. mochi's
// per-connection goroutines can log after Server.Close has returned; once
// Run has returned they must not write to a logger that may be gone (a
// test's log, for one).
type gatedHandler struct {
	h   slog.Handler
	off *atomic.Bool
}

func (g gatedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !g.off.Load() && g.h.Enabled(ctx, l)
}

func (g gatedHandler) Handle(ctx context.Context, r slog.Record) error {
	if g.off.Load() {
		return nil
	}
	return g.h.Handle(ctx, r)
}

func (g gatedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return gatedHandler{h: g.h.WithAttrs(as), off: g.off}
}

func (g gatedHandler) WithGroup(name string) slog.Handler {
	return gatedHandler{h: g.h.WithGroup(name), off: g.off}
}
