package udp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/transport"
)

// listenT opens a Conn for a test and closes it at the end.
func listenT(t testing.TB, cfg Config) *Conn {
	t.Helper()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t))
	c, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResult is one ReadFrom outcome.
type readResult struct {
	data []byte
	from transport.Addr
	err  error
}

// readAsync reads one datagram on a goroutine the test waits for.
func readAsync(t *testing.T, c transport.Conn) <-chan readResult {
	t.Helper()
	ch := make(chan readResult, 1)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		buf := make([]byte, 2048)
		n, from, err := c.ReadFrom(buf)
		ch <- readResult{data: buf[:n], from: from, err: err}
	})
	return ch
}

// await waits for a read result, failing the test after a generous deadline.
func await(t *testing.T, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no datagram within 10s")
		return readResult{}
	}
}

// sameSender reports whether from is a datagram source of a socket bound to
// local: a wildcard-bound socket sends from one of the host's addresses.
func sameSender(from, local transport.Addr) bool {
	if local.AddrPort().Addr().IsUnspecified() {
		return from.AddrPort().Port() == local.AddrPort().Port()
	}
	return from == local
}

func roundTrip(t *testing.T, a, b *Conn) {
	t.Helper()
	msg := []byte{0x03, 0x01, 0x07} // SEARCHGW radius 7
	ch := readAsync(t, b)
	if n, err := a.WriteTo(msg, b.LocalAddr()); err != nil || n != len(msg) {
		t.Fatalf("WriteTo(%v) = %d, %v", b.LocalAddr(), n, err)
	}
	r := await(t, ch)
	if r.err != nil {
		t.Fatalf("ReadFrom: %v", r.err)
	}
	if !bytes.Equal(r.data, msg) {
		t.Errorf("ReadFrom data = %x, want %x", r.data, msg)
	}
	if !sameSender(r.from, a.LocalAddr()) {
		t.Errorf("ReadFrom from = %v, want %v", r.from, a.LocalAddr())
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name   string
		listen string
		max    int
	}{
		{"ipv4", "127.0.0.1:0", MaxPayloadIPv4},
		{"ipv6", "[::1]:0", MaxPayloadIPv6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := listenT(t, Config{Listen: tt.listen})
			b := listenT(t, Config{Listen: tt.listen})
			if got := a.MaxPayload(); got != tt.max {
				t.Errorf("MaxPayload = %d, want %d", got, tt.max)
			}
			if a.LocalAddr().AddrPort().Port() == 0 {
				t.Errorf("LocalAddr %v has port 0", a.LocalAddr())
			}
			roundTrip(t, a, b)
			roundTrip(t, b, a)
			if s := b.Stats(); s.Received != 1 || s.Sent != 1 {
				t.Errorf("Stats = %+v, want 1 received, 1 sent", s)
			}
		})
	}
}

// TestDualStack checks that ":port" receives from IPv4 and IPv6 peers and
// that an IPv4 peer gets an unmapped Addr.
func TestDualStack(t *testing.T) {
	gw := listenT(t, Config{Listen: ":0"})
	port := gw.LocalAddr().AddrPort().Port()
	for _, peer := range []string{"127.0.0.1:0", "[::1]:0"} {
		c := listenT(t, Config{Listen: peer})
		ch := readAsync(t, gw)
		to := netip.AddrPortFrom(c.LocalAddr().AddrPort().Addr(), port)
		if _, err := c.WriteTo([]byte{2, 0x16}, transport.UDPAddr(to)); err != nil {
			t.Fatalf("%s: WriteTo: %v", peer, err)
		}
		r := await(t, ch)
		if r.err != nil || r.from != c.LocalAddr() {
			t.Fatalf("%s: ReadFrom = from %v, err %v; want from %v", peer, r.from, r.err, c.LocalAddr())
		}
		roundTrip(t, gw, c) // reply to the Addr ReadFrom gave
	}
}

// TestSeveralListeners runs IPv4-only and IPv6-only listeners on the same
// port side by side, plus more on other ports, each with its own reader.
func TestSeveralListeners(t *testing.T) {
	v4 := listenT(t, Config{Listen: "127.0.0.1:0"})
	port := v4.LocalAddr().AddrPort().Port()
	v6, err := Listen(Config{Listen: fmt.Sprintf("[::1]:%d", port)})
	if err != nil {
		t.Fatalf("IPv6 listener on the IPv4 listener's port %d: %v", port, err)
	}
	t.Cleanup(func() { v6.Close() })
	conns := []*Conn{v4, v6}
	for range 3 {
		conns = append(conns, listenT(t, Config{Listen: "127.0.0.1:0"}))
	}
	client4 := listenT(t, Config{Listen: "127.0.0.1:0"})
	client6 := listenT(t, Config{Listen: "[::1]:0"})
	for _, c := range conns {
		from := client4
		if c.LocalAddr().AddrPort().Addr().Is6() {
			from = client6
		}
		roundTrip(t, from, c)
	}
}

// TestCloseDropsBatched checks that datagrams already read in a batch are
// not served after Close.
func TestCloseDropsBatched(t *testing.T) {
	c, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.WriteTo([]byte{2, 0x16}, c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 16)
	if _, _, err := c.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Close = %v, want net.ErrClosed", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		c, err := Listen(Config{Listen: listen})
		if err != nil {
			t.Fatal(err)
		}
		ch := readAsync(t, c)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if r := await(t, ch); !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("%s: ReadFrom after Close = %v, want net.ErrClosed", listen, r.err)
		}
		if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s: second ReadFrom = %v, want net.ErrClosed", listen, err)
		}
	}
}

// TestConcurrentWriters sends from many goroutines at once (run with -race)
// and reads every datagram back.
func TestConcurrentWriters(t *testing.T) {
	const writers, each = 8, 50
	gw := listenT(t, Config{Listen: "127.0.0.1:0", RecvBuffer: 1 << 20})
	src := listenT(t, Config{Listen: "127.0.0.1:0"})
	got := make(chan map[string]int, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		seen := map[string]int{}
		buf := make([]byte, 64)
		for range writers * each {
			n, _, err := gw.ReadFrom(buf)
			if err != nil {
				break
			}
			seen[string(buf[:n])]++
		}
		got <- seen
	})
	var ww sync.WaitGroup
	for w := range writers {
		ww.Go(func() {
			for i := range each {
				msg := fmt.Appendf(nil, "w%d-%d", w, i)
				if _, err := src.WriteTo(msg, gw.LocalAddr()); err != nil {
					t.Errorf("WriteTo: %v", err)
				}
			}
		})
	}
	ww.Wait()
	var seen map[string]int
	select {
	case seen = <-got:
	case <-time.After(10 * time.Second):
		gw.Close()
		wg.Wait()
		t.Fatalf("received %d of %d datagrams within 10s", gw.Stats().Received, writers*each)
	}
	wg.Wait()
	if len(seen) != writers*each {
		t.Errorf("received %d distinct datagrams, want %d", len(seen), writers*each)
	}
	if s := src.Stats(); s.Sent != writers*each || s.SendErrs != 0 {
		t.Errorf("sender Stats = %+v", s)
	}
}

func TestTruncatedDropped(t *testing.T) {
	gw := listenT(t, Config{Listen: "127.0.0.1:0"})
	src := listenT(t, Config{Listen: "127.0.0.1:0"})
	big := bytes.Repeat([]byte{0xAA}, 4096)
	small := []byte{2, 0x16}
	for _, m := range [][]byte{big, small} {
		if _, err := src.WriteTo(m, gw.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	r := await(t, readAsync(t, gw)) // 2048-byte buffer
	if r.err != nil || !bytes.Equal(r.data, small) {
		t.Fatalf("ReadFrom = %x, %v; want the small datagram", r.data, r.err)
	}
	if s := gw.Stats(); s.Truncated != 1 || s.Received != 1 {
		t.Errorf("Stats = %+v, want 1 truncated, 1 received", s)
	}
}

func TestWriteToErrors(t *testing.T) {
	c := listenT(t, Config{Listen: "127.0.0.1:0"})
	if _, err := c.WriteTo([]byte{2, 0x16}, transport.XBeeAddr(1)); !errors.Is(err, errNotUDP) {
		t.Errorf("WriteTo(xbee addr) = %v, want errNotUDP", err)
	}
	if _, err := c.WriteTo(make([]byte, MaxPayloadIPv4+1), c.LocalAddr()); err == nil {
		t.Error("WriteTo(oversize) succeeded")
	}
	if n, err := c.WriteTo(make([]byte, MaxPayloadIPv4), c.LocalAddr()); err != nil || n != MaxPayloadIPv4 {
		t.Errorf("WriteTo(MaxPayload bytes) = %d, %v", n, err)
	}
	if s := c.Stats(); s.SendErrs != 2 || s.Sent != 1 {
		t.Errorf("Stats = %+v, want 2 errors, 1 sent", s)
	}
}

func TestListenErrors(t *testing.T) {
	for _, tt := range []Config{
		{Listen: ""},
		{Listen: "localhost:1884"},
		{Listen: "1.2.3.4"},
		{Listen: ":99999"},
		{Listen: "127.0.0.1:0", Broadcast: "nonsense"},
		{Listen: "203.0.113.77:0"}, // not a local address
	} {
		if c, err := Listen(tt); err == nil {
			c.Close()
			t.Errorf("Listen(%+v) succeeded", tt)
		}
	}
}
