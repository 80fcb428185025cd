package bridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
	"github.com/snbridge/snbridge/transport/udp"
)

// benchWindow bounds the datagrams in flight between the sender and the
// upstream, so that no socket or queue overflows.
const benchWindow = 128

// BenchmarkGatewayQoS0 measures QoS 0 PUBLISHes through the whole gateway
// (reader, loop, session, upstream call) from one connected client to an
// in-test upstream that only counts, over loopback UDP and over the
// in-memory network. One op is one message; allocs/op include the
// payload copy handed to the upstream (and, for mem, the network's own
// copy of each datagram).
func BenchmarkGatewayQoS0(b *testing.B) {
	b.Run("udp", func(b *testing.B) {
		gwConn, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0", RecvBuffer: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		cl, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		benchGateway(b, gwConn, cl)
	})
	b.Run("mem", func(b *testing.B) {
		net := transporttest.New(transporttest.Config{QueueLen: 4 * benchWindow})
		benchGateway(b, net.MustListen(memGW), net.MustListen(memAddr(1)))
	})
}

func benchGateway(b *testing.B, gwConn, clConn transport.Conn) {
	up := newMemUpstream()
	up.record = false
	up.notify = make(chan struct{}, 1)
	g, err := bridge.New(bridge.Config{
		Transports: []transport.Conn{gwConn}, Upstream: up,
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
	r.connect("bench", true, 600)
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
	b.ResetTimer()
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
			b.Fatalf("%d of %d messages reached the upstream; stats %+v", up.count.Load()-base, sent, g.Stats())
		}
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
}
