package bridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/paho"
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
		benchGateway(b, gwConn, cl, true, nil)
	})
	b.Run("mem", func(b *testing.B) {
		benchGatewayMem(b, true, nil)
	})
}

// benchGatewayMem is benchGateway over the in-memory network.
func benchGatewayMem(b *testing.B, clean bool, configure func(*bridge.Config)) {
	net := transporttest.New(transporttest.Config{QueueLen: 4 * benchWindow})
	benchGateway(b, net.MustListen(memGW), net.MustListen(memAddr(1)), clean, configure)
}

// benchGateway sends QoS 0 PUBLISHes of a client connected with clean
// through a gateway on gwConn to an upstream that only counts; configure
// (may be nil) adjusts the gateway's Config.
func benchGateway(b *testing.B, gwConn, clConn transport.Conn, clean bool, configure func(*bridge.Config)) {
	up := newMemUpstream()
	up.record = false
	up.notify = make(chan struct{}, 1)
	cfg := bridge.Config{
		Transports: []transport.Conn{gwConn}, Upstream: up,
		Logger: zerolog.Nop(),
	}
	if configure != nil {
		configure(&cfg)
	}
	g, err := bridge.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	r := newRawOn(b, clConn, gwConn.LocalAddr())
	r.connect("bench", clean, 600)
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

// BenchmarkGatewayMosquitto measures messages per second from one
// MQTT-SN client over loopback UDP through the gateway and the paho
// upstream (transparent mode) to a real mosquitto, as counted by an MQTT
// subscriber: QoS 0 with up to benchWindow messages in flight end to end,
// QoS 1 with up to 32 PUBLISHes awaiting their PUBACK (the session's
// default in-flight limit).
func BenchmarkGatewayMosquitto(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			mosq := bridgetest.StartMosquitto(b)
			up, err := paho.New(paho.Config{URL: mosq.URL()})
			if err != nil {
				b.Fatal(err)
			}
			runPart(b, "paho", up.Run)
			gw := startGateway(b, up, func(c *bridge.Config) { c.Logger = zerolog.Nop() })
			sub := bridgetest.Subscribe(b, mosq.URL(), "bench/#", qos)
			r := newRaw(b, gw.Addr)
			r.connect("bench-"+fmt.Sprint(qos), true, 600)
			id := r.register("bench/t", 1)
			p := mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
				Flags: mqttsn.Flags{QoS: mqttsn.QoS(qos)}, TopicID: id, Data: []byte("0123456789abcdef"),
			}}
			window := benchWindow
			if qos == 1 {
				window = 32
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			sent, acked, got := 0, 0, 0
			timeout := time.After(time.Minute)
			wait := func() {
				select {
				case <-sub:
					got++
				case <-r.in:
					acked++
				case <-timeout:
					b.Fatalf("stalled: sent %d, acked %d, received %d", sent, acked, got)
				}
			}
			for b.Loop() {
				for (qos == 0 && sent-got >= window) || (qos == 1 && sent-acked >= window) {
					wait()
				}
				sent++
				p.Publish.MsgID = uint16(sent%65535 + 1)
				r.send(p)
			}
			for got < sent || (qos == 1 && acked < sent) {
				wait()
			}
			b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
