package udp

import (
	"fmt"
	"net"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/snbridge/snbridge/transport"
)

// publishQoS0 is a 20-byte MQTT-SN PUBLISH, QoS 0, topic id 1, 13-byte payload.
var publishQoS0 = []byte{20, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00,
	't', 'e', 'm', 'p', '=', '2', '1', '.', '5', ' ', 'C', ' ', ' '}

// BenchmarkReadFrom measures the reader alone over loopback: with the
// timer stopped, a sender queues up to 256 20-byte datagrams in the
// socket; then ReadFrom reads them, one op per datagram. batch=1 is one
// recvmsg per datagram; batch=N serves up to N per recvmmsg (Linux).
func BenchmarkReadFrom(b *testing.B) {
	for _, batch := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c, err := listen(Config{Listen: "127.0.0.1:0", RecvBuffer: 4 << 20}, batch)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			pc := ipv4.NewPacketConn(src)
			to := net.UDPAddrFromAddrPort(c.LocalAddr().AddrPort())
			msgs := make([]ipv4.Message, 256)
			for i := range msgs {
				msgs[i] = ipv4.Message{Buffers: [][]byte{publishQoS0}, Addr: to}
			}
			buf := make([]byte, 2048)
			b.SetBytes(int64(len(publishQoS0)))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(len(msgs), b.N-done)
				b.StopTimer()
				for sent := 0; sent < k; {
					n, err := pc.WriteBatch(msgs[sent:k], 0)
					if err != nil {
						b.Fatal(err)
					}
					sent += n
				}
				b.StartTimer()
				for range k {
					if _, _, err := c.ReadFrom(buf); err != nil {
						b.Fatal(err)
					}
				}
				done += k
			}
		})
	}
}

// BenchmarkWriteTo sends 20-byte datagrams to a loopback socket nobody
// reads (the kernel drops them once its buffer is full; the sender does
// not notice), serially and from parallel goroutines.
func BenchmarkWriteTo(b *testing.B) {
	c, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sink, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	to := sink.LocalAddr()
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(len(publishQoS0)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.WriteTo(publishQoS0, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(publishQoS0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.WriteTo(publishQoS0, to); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestAllocs requires ReadFrom (both readers) and WriteTo to allocate
// nothing per datagram.
func TestAllocs(t *testing.T) {
	for _, batch := range []int{1, defaultBatch} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			c, err := listen(Config{Listen: "127.0.0.1:0", RecvBuffer: 1 << 20}, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const runs = 100
			for range runs + 1 { // AllocsPerRun calls f once more to warm up
				if _, err := c.WriteTo(publishQoS0, c.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.Stats().Sent; got != runs+1 {
				t.Fatalf("sent %d", got)
			}
			buf := make([]byte, 2048)
			var rerr error
			var from transport.Addr
			allocs := testing.AllocsPerRun(runs, func() {
				if _, from, rerr = c.ReadFrom(buf); rerr != nil {
					t.Fatal(rerr)
				}
			})
			if allocs != 0 {
				t.Errorf("ReadFrom allocates %v per datagram, want 0", allocs)
			}
			if from != c.LocalAddr() {
				t.Errorf("ReadFrom from = %v, want %v", from, c.LocalAddr())
			}
		})
	}
	t.Run("WriteTo", func(t *testing.T) {
		c := listenT(t, Config{Listen: "127.0.0.1:0"})
		to := listenT(t, Config{Listen: "127.0.0.1:0"}).LocalAddr()
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := c.WriteTo(publishQoS0, to); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("WriteTo allocates %v per datagram, want 0", allocs)
		}
	})
}
