package bridge

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// testReader is a reader of a gateway that is not running: fill and
// parse need only its counters and config.
func testReader(t testing.TB) *reader {
	t.Helper()
	net := transporttest.New(transporttest.Config{})
	conn := net.MustListen(transport.UDPAddr(netip.MustParseAddrPort("10.0.0.1:1884")))
	g, err := New(Config{Transports: []transport.Conn{conn}, Upstream: nopUpstream{}})
	if err != nil {
		t.Fatal(err)
	}
	return &reader{g: g, conn: conn}
}

// noise returns n random octets that do not parse.
func noise(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		var p mqttsn.Packet
		if mqttsn.Parse(b, &p) != nil {
			return b
		}
	}
}

// bytesPerRun is the heap octets f allocates per call, averaged over runs
// (like testing.AllocsPerRun, but in octets).
func bytesPerRun(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestFillNoiseNotCopied: a large datagram that does not parse is
// dropped from the scratch buffer without copying it anywhere (noise does
// not churn the GC); a short one uses the inbound's own buffer. Only the
// parse error is allocated.
func TestFillNoiseNotCopied(t *testing.T) {
	r := testReader(t)
	ib := &inbound{r: r}
	scratch := make([]byte, maxDatagram)
	for _, n := range []int{2, smallBuf, smallBuf + 1, 65507} {
		data := scratch[:copy(scratch, noise(t, n))]
		got := bytesPerRun(20, func() {
			if err := r.fill(ib, data); err == nil {
				t.Fatalf("%d octets of noise parsed", n)
			}
			ib.buf = nil
		})
		// The parse error itself is allocated; the datagram is not copied.
		if got >= 256 {
			t.Errorf("%d octets of noise: %d octets allocated per datagram, want < 256", n, got)
		}
	}
}

// TestFillLargeOwnsItsBuffer: a large datagram that parses gets a buffer
// of its own, and its packet aliases that buffer, not the scratch buffer
// that the next read overwrites. A short QoS 0 PUBLISH allocates nothing.
func TestFillLargeOwnsItsBuffer(t *testing.T) {
	r := testReader(t)
	ib := &inbound{r: r}
	scratch := make([]byte, maxDatagram)
	for _, size := range []int{10, 1000, 60000} {
		payload := bytes.Repeat([]byte{'p'}, size)
		p := mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{TopicID: 1, Data: payload}}
		enc, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		data := scratch[:copy(scratch, enc)]
		if err := r.fill(ib, data); err != nil {
			t.Fatalf("%d octets: %v", size, err)
		}
		clear(data) // the next datagram
		if ib.pkt.Type != mqttsn.TypePublish || !bytes.Equal(ib.pkt.Publish.Data, payload) {
			t.Fatalf("%d octets: packet changed with the scratch buffer: %v %d octets", size, ib.pkt.Type, len(ib.pkt.Publish.Data))
		}
		copy(data, enc)
		allocs := testing.AllocsPerRun(20, func() {
			if err := r.fill(ib, data); err != nil {
				t.Fatal(err)
			}
		})
		want := 1.0 // the buffer of its own
		if len(enc) <= smallBuf {
			want = 0
		}
		if allocs != want {
			t.Errorf("%d octets: %.1f allocations, want %.0f", len(enc), allocs, want)
		}
	}
}

// TestFillEncapsulated: the Forwarder Encapsulation of a large datagram
// survives the copy (node id and radius, inner packet in the own buffer);
// a CONNECT with a bad ClientId comes through as badConnect.
func TestFillEncapsulated(t *testing.T) {
	r := testReader(t)
	ib := &inbound{r: r}
	scratch := make([]byte, maxDatagram)
	inner, err := (&mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{TopicID: 2, Data: bytes.Repeat([]byte{'e'}, 500)}}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := (&mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{Radius: 2, NodeID: []byte{0xab, 0xcd}, Message: inner}}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := scratch[:copy(scratch, enc)]
	if err := r.fill(ib, data); err != nil {
		t.Fatal(err)
	}
	clear(data)
	if !ib.key.encap || !bytes.Equal(ib.key.node.bytes(), []byte{0xab, 0xcd}) || ib.radius != 2 {
		t.Errorf("encapsulation lost: encap %v node % x radius %d", ib.key.encap, ib.key.node.bytes(), ib.radius)
	}
	if ib.pkt.Type != mqttsn.TypePublish || len(ib.pkt.Publish.Data) != 500 || ib.pkt.Publish.Data[0] != 'e' {
		t.Errorf("inner packet %v with %d octets", ib.pkt.Type, len(ib.pkt.Publish.Data))
	}

	// ClientId of 24 octets: parses as a CONNECT to refuse.
	ib.key, ib.badErr = clientKey{}, nil
	bad := append([]byte{30, byte(mqttsn.TypeConnect), 0x04, mqttsn.ProtocolID, 0, 60}, bytes.Repeat([]byte{'x'}, 24)...)
	if err := r.fill(ib, scratch[:copy(scratch, bad)]); err != nil {
		t.Fatal(err)
	}
	if !ib.badConnect || ib.badErr == nil || ib.pkt.Type != mqttsn.TypeConnect || ib.key.encap {
		t.Errorf("bad CONNECT: badConnect %v badErr %v type %v encap %v", ib.badConnect, ib.badErr, ib.pkt.Type, ib.key.encap)
	}
}

// BenchmarkFill: a short QoS 0 PUBLISH (the hot path) and 64 KiB of
// noise, from the scratch buffer into an inbound.
func BenchmarkFill(b *testing.B) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"qos0", []byte{0x0b, byte(mqttsn.TypePublish), 0x00, 0x00, 0x01, 0x00, 0x00, 'h', 'e', 'l', 'o'}},
		{"noise64k", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := testReader(b)
			ib := &inbound{r: r}
			scratch := make([]byte, maxDatagram)
			src := tc.data
			if src == nil {
				src = noise(b, 65507)
			}
			data := scratch[:copy(scratch, src)]
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_ = r.fill(ib, data)
				ib.buf = nil
			}
		})
	}
}
