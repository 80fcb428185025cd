package failover_test

import (
	"context"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
)

// Example wires a failover as cmd/snbridge does with [fallback] enabled:
// the remote broker through paho, the embedded broker (run by the caller,
// it serves local clients in every mode), the spool in data_dir and a
// probe of the same broker. The gateway is then given f as its upstream.
func Example() {
	log := zerolog.Nop()
	const url = "tcp://broker.example:1883"
	broker, _ := embedded.New(embedded.Config{Listen: "127.0.0.1:1883", Logger: log})
	remote, _ := paho.New(paho.Config{URL: url, ClientIDPrefix: "site7-", Logger: log})
	sp, _ := spool.Open(spool.Config{
		Path:     filepath.Join("/var/lib/snbridge", "spool.db"),
		MaxBytes: 256 << 20,
		MaxAge:   168 * time.Hour,
		Overflow: spool.Reject,
		Logger:   log,
	})
	probe, _ := failover.NewProbe(failover.ProbeConfig{URL: url, ClientID: "site7-probe", Logger: log})
	f, _ := failover.New(failover.Config{
		Primary:        remote,
		Fallback:       broker,
		Health:         probe,
		Spool:          sp,
		ReplayRate:     1000,
		ReplayClientID: "site7-replay",
		StatusTopic:    "$SYS/snbridge/upstream",
		Status:         broker.Server(),
		RunPrimary:     true,
		Logger:         log,
	})
	g, ctx := errgroup.WithContext(context.Background())
	g.Go(func() error { return broker.Run(ctx) })
	g.Go(func() error { return f.Run(ctx) })
	// ... the gateway: bridge.New(bridge.Config{Upstream: f, ...}).Run(ctx)
	_ = g.Wait()
	_ = sp.Close() // after f.Run returned
}
