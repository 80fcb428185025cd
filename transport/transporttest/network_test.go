package transporttest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/transport"
)

var (
	gwAddr    = transport.UDPAddr(netip.MustParseAddrPort("10.0.0.1:1884"))
	c1Addr    = transport.UDPAddr(netip.MustParseAddrPort("10.0.0.2:5000"))
	c2Addr    = transport.UDPAddr(netip.MustParseAddrPort("[fd00::2]:5000"))
	radioAddr = transport.XBeeAddr(0x0013A20040A1B2C3)
	bcastAddr = transport.UDPAddr(netip.MustParseAddrPort("255.255.255.255:1884"))
)

// mustRead reads one datagram that must already be queued at c.
func mustRead(t *testing.T, c *Conn) ([]byte, transport.Addr) {
	t.Helper()
	if c.Queued() == 0 {
		t.Fatalf("%v: nothing queued", c.LocalAddr())
	}
	buf := make([]byte, 1024)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("%v: ReadFrom: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

func mustWrite(t *testing.T, c *Conn, b []byte, to transport.Addr) {
	t.Helper()
	if n, err := c.WriteTo(b, to); err != nil || n != len(b) {
		t.Fatalf("%v: WriteTo(%v) = %d, %v", c.LocalAddr(), to, n, err)
	}
}

func TestRoundTrip(t *testing.T) {
	n := NewNetwork()
	gw := n.MustListen(gwAddr)
	defer gw.Close()
	for _, a := range []transport.Addr{c1Addr, c2Addr, radioAddr} {
		c := n.MustListen(a)
		defer c.Close()
		msg := fmt.Appendf(nil, "hello from %v", a)
		mustWrite(t, c, msg, gwAddr)
		got, from := mustRead(t, gw)
		if !bytes.Equal(got, msg) || from != a {
			t.Errorf("gateway got %q from %v, want %q from %v", got, from, msg, a)
		}
		mustWrite(t, gw, []byte("reply"), from)
		if got, from := mustRead(t, c); string(got) != "reply" || from != gwAddr {
			t.Errorf("client got %q from %v", got, from)
		}
	}
	if got, want := n.Stats(), (Stats{Delivered: 6}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestWriteDoesNotKeepBuffer(t *testing.T) {
	n := NewNetwork()
	a, b := n.MustListen(c1Addr), n.MustListen(gwAddr)
	defer a.Close()
	defer b.Close()
	msg := []byte("abc")
	mustWrite(t, a, msg, gwAddr)
	msg[0] = 'X'
	if got, _ := mustRead(t, b); string(got) != "abc" {
		t.Errorf("got %q: WriteTo kept the caller's buffer", got)
	}
}

func TestBroadcast(t *testing.T) {
	n := New(Config{Broadcast: bcastAddr})
	gw := n.MustListen(gwAddr)
	c1, c2, radio := n.MustListen(c1Addr), n.MustListen(c2Addr), n.MustListen(radioAddr)
	for _, c := range []*Conn{gw, c1, c2, radio} {
		defer c.Close()
		if c.BroadcastAddr() != bcastAddr {
			t.Errorf("%v: BroadcastAddr = %v", c.LocalAddr(), c.BroadcastAddr())
		}
	}
	advertise := []byte{5, 0x00, 1, 0x03, 0x84}
	mustWrite(t, gw, advertise, gw.BroadcastAddr())
	if gw.Queued() != 0 {
		t.Errorf("the sender received its own broadcast")
	}
	for _, c := range []*Conn{c1, c2, radio} {
		if got, from := mustRead(t, c); !bytes.Equal(got, advertise) || from != gwAddr {
			t.Errorf("%v got %x from %v", c.LocalAddr(), got, from)
		}
	}
	if _, err := n.Listen(bcastAddr); err == nil {
		t.Error("Listen on the broadcast address succeeded")
	}
	if NewNetwork().MustListen(c1Addr).BroadcastAddr().IsValid() {
		t.Error("BroadcastAddr without Config.Broadcast is valid")
	}
}

func TestDrops(t *testing.T) {
	n := New(Config{QueueLen: 2, MaxPayload: 8})
	gw, c := n.MustListen(gwAddr), n.MustListen(c1Addr)
	defer gw.Close()
	defer c.Close()

	// Unknown address: no error, counted.
	mustWrite(t, c, []byte("lost"), c2Addr)
	// Full queue: the third datagram is dropped.
	for i := range 3 {
		mustWrite(t, c, []byte{byte(i)}, gwAddr)
	}
	// Oversize: an error, nothing sent.
	if _, err := c.WriteTo(make([]byte, 9), gwAddr); err == nil {
		t.Error("WriteTo of 9 bytes with MaxPayload 8 succeeded")
	}
	if c.MaxPayload() != 8 {
		t.Errorf("MaxPayload = %d, want 8", c.MaxPayload())
	}
	for i := range 2 {
		if got, _ := mustRead(t, gw); !bytes.Equal(got, []byte{byte(i)}) {
			t.Errorf("datagram %d = %x", i, got)
		}
	}
	// Drop hook: lose datagrams starting with 0xFF.
	n.SetDrop(func(from, to transport.Addr, b []byte) bool { return len(b) > 0 && b[0] == 0xFF })
	mustWrite(t, c, []byte{0xFF}, gwAddr)
	mustWrite(t, c, []byte{0x01}, gwAddr)
	if got, _ := mustRead(t, gw); !bytes.Equal(got, []byte{1}) || gw.Queued() != 0 {
		t.Errorf("after drop hook got %x, %d queued", got, gw.Queued())
	}
	// Truncation: a datagram longer than the read buffer is skipped.
	mustWrite(t, c, []byte("12345678"), gwAddr)
	mustWrite(t, c, []byte("1"), gwAddr)
	buf := make([]byte, 4)
	if k, _, err := gw.ReadFrom(buf); err != nil || string(buf[:k]) != "1" {
		t.Errorf("ReadFrom(4-byte buffer) = %q, %v", buf[:k], err)
	}
	want := Stats{Delivered: 5, DroppedUnknown: 1, DroppedFull: 1, DroppedHook: 1, Oversize: 1, Truncated: 1}
	if d := cmp.Diff(want, n.Stats()); d != "" {
		t.Errorf("Stats mismatch (-want +got):\n%s", d)
	}
}

func TestListenErrors(t *testing.T) {
	n := NewNetwork()
	c := n.MustListen(c1Addr)
	if _, err := n.Listen(c1Addr); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second Listen = %v, want ErrAddrInUse", err)
	}
	if _, err := n.Listen(transport.Addr{}); err == nil {
		t.Error("Listen on the zero Addr succeeded")
	}
	c.Close()
	c2, err := n.Listen(c1Addr)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	c2.Close()
}

func TestClose(t *testing.T) {
	n := NewNetwork()
	gw, c := n.MustListen(gwAddr), n.MustListen(c1Addr)
	defer c.Close()
	mustWrite(t, c, []byte("queued"), gwAddr)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64)
		gw.ReadFrom(buf) // the queued datagram
		_, _, err := gw.ReadFrom(buf)
		errc <- err
	})
	// The reader is blocked, or about to be: Close must unblock it either way.
	if err := gw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Close = %v, want net.ErrClosed", err)
	}
	if err := gw.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := gw.WriteTo([]byte("x"), c1Addr); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close = %v, want net.ErrClosed", err)
	}
	mustWrite(t, c, []byte("to closed"), gwAddr) // dropped like UDP
	if s := n.Stats(); s.DroppedUnknown != 1 {
		t.Errorf("DroppedUnknown = %d, want 1", s.DroppedUnknown)
	}
}

// TestConcurrentWriters writes from several goroutines at once (-race).
func TestConcurrentWriters(t *testing.T) {
	const writers, each = 8, 100
	n := New(Config{QueueLen: writers * each})
	gw := n.MustListen(gwAddr)
	defer gw.Close()
	var wg sync.WaitGroup
	for w := range writers {
		c := n.MustListen(transport.UDPAddr(netip.AddrPortFrom(netip.MustParseAddr("10.0.1.1"), uint16(1000+w))))
		defer c.Close()
		wg.Go(func() {
			for i := range each {
				if _, err := c.WriteTo(fmt.Appendf(nil, "%d", i), gwAddr); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := gw.Queued(); got != writers*each {
		t.Errorf("queued %d, want %d", got, writers*each)
	}
}

// TestSynctest runs a gateway-like loop and a client inside a synctest
// bubble: the client's SEARCHGW is answered with a GWINFO after a 5 s
// (fake) delay, and synctest.Wait sees the reader durably blocked.
func TestSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Broadcast: bcastAddr})
		gw, client := n.MustListen(gwAddr), n.MustListen(c1Addr)
		defer client.Close()
		var wg sync.WaitGroup
		defer wg.Wait()
		defer gw.Close()
		wg.Go(func() {
			buf := make([]byte, 256)
			for {
				_, from, err := gw.ReadFrom(buf)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("gateway ReadFrom: %v", err)
					}
					return
				}
				time.Sleep(5 * time.Second) // fake time in the bubble
				gw.WriteTo([]byte{3, 0x02, 1}, from)
				gw.WriteTo([]byte{3, 0x02, 1}, gw.BroadcastAddr())
			}
		})
		synctest.Wait() // gateway blocked in ReadFrom
		start := time.Now()
		mustWrite(t, client, []byte{3, 0x01, 0}, client.BroadcastAddr())
		synctest.Wait() // gateway asleep
		if client.Queued() != 0 {
			t.Fatal("GWINFO before the delay")
		}
		buf := make([]byte, 16)
		k, from, err := client.ReadFrom(buf)
		if err != nil || from != gwAddr || !bytes.Equal(buf[:k], []byte{3, 0x02, 1}) {
			t.Fatalf("client ReadFrom = %x from %v, %v", buf[:k], from, err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("GWINFO after %v, want 5s of fake time", d)
		}
		synctest.Wait()
		if got := client.Queued(); got != 1 {
			t.Errorf("client has %d queued, want the broadcast GWINFO", got)
		}
	})
}
