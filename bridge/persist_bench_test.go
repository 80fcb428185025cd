package bridge_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/state"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// BenchmarkGatewayQoS0State is BenchmarkGatewayQoS0/mem with a state
// store configured: a clean client's QoS 0 path does not touch it, and a
// persistent client's QoS 0 PUBLISHes change nothing durable (its session
// is not rewritten per message).
func BenchmarkGatewayQoS0State(b *testing.B) {
	for _, tt := range []struct {
		name  string
		clean bool
	}{{"clean", true}, {"persistent", false}} {
		b.Run(tt.name, func(b *testing.B) {
			st, err := state.Open(state.Config{Path: filepath.Join(b.TempDir(), "state.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			net := transporttest.New(transporttest.Config{QueueLen: 4 * benchWindow})
			gwConn, clConn := net.MustListen(memGW), net.MustListen(memAddr(1))
			up := newMemUpstream()
			up.record = false
			up.notify = make(chan struct{}, 1)
			g, err := bridge.New(bridge.Config{
				Transports: []transport.Conn{gwConn}, Upstream: up, State: st,
				Logger: zerolog.Nop(),
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.Run(ctx) }()
			defer func() { cancel(); <-done }()

			r := newRawOn(b, clConn, gwConn.LocalAddr())
			r.connect("bench", tt.clean, 600)
			id := r.register("bench/qos0", 1)
			pkt, err := (&mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
				TopicID: id, Data: []byte("0123456789abcdef"),
			}}).AppendBinary(nil)
			if err != nil {
				b.Fatal(err)
			}
			base := up.count.Load()
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			start := time.Now()
			sent := int64(0)
			for b.Loop() {
				for sent-(up.count.Load()-base) >= benchWindow {
					<-up.notify
				}
				if _, err := clConn.WriteTo(pkt, gwConn.LocalAddr()); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			deadline := time.After(10 * time.Second)
			for up.count.Load()-base < sent {
				select {
				case <-up.notify:
				case <-deadline:
					b.Fatalf("%d of %d messages reached the upstream", up.count.Load()-base, sent)
				}
			}
			b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
