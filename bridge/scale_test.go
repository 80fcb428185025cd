package bridge_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// TestTenThousandClients connects 10,000 clients (each with a keep-alive
// timer in the deadline heap, a registered topic and a subscription) and
// checks that the heap they cost, the in-memory network's endpoints and
// the in-test upstream's sessions included, stays under 100 MB.
func TestTenThousandClients(t *testing.T) {
	const n = 10000
	net := transporttest.New(transporttest.Config{QueueLen: 4})
	up := newMemUpstream()
	up.record = false
	g, err := bridge.New(bridge.Config{
		Transports: []transport.Conn{net.MustListen(memGW)}, Upstream: up, Logger: zerolog.Nop(),
	})
	must(t, "New", err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	before := heapInUse()
	buf := make([]byte, 512)
	conns := make([]*transporttest.Conn, 0, n)
	exchange := func(c *transporttest.Conn, p mqttsn.Packet, want mqttsn.MsgType) {
		b, err := p.AppendBinary(buf[:0])
		must(t, "encode", err)
		if _, err := c.WriteTo(b, memGW); err != nil {
			t.Fatal(err)
		}
		m, _, err := c.ReadFrom(buf)
		must(t, "read", err)
		var r mqttsn.Packet
		must(t, "parse", mqttsn.Parse(buf[:m], &r))
		if r.Type != want {
			t.Fatalf("got %v, want %v", r.Type, want)
		}
	}
	for i := range n {
		c := net.MustListen(transport.XBeeAddr(uint64(i + 1)))
		conns = append(conns, c)
		id := fmt.Sprintf("c%05d", i)
		exchange(c, mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
			Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: 1, Duration: 600, ClientID: []byte(id),
		}}, mqttsn.TypeConnack)
		exchange(c, mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: 1, TopicName: []byte("site/" + id + "/temp")}}, mqttsn.TypeRegack)
		exchange(c, mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{MsgID: 2, TopicName: []byte("cmd/" + id)}}, mqttsn.TypeSuback)
	}
	if s := g.Stats(); s.Sessions != n {
		t.Fatalf("%d sessions, want %d", s.Sessions, n)
	}
	used := heapInUse() - before
	t.Logf("%d clients: %.1f MB heap, %d bytes per client", n, float64(used)/1e6, used/n)
	if used > 100e6 {
		t.Errorf("%d clients use %.1f MB of heap, want < 100 MB", n, float64(used)/1e6)
	}
	runtime.KeepAlive(conns)
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
