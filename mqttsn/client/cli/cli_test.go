package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
)

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30", 30 * time.Second, false},
		{"0.25", 250 * time.Millisecond, false},
		{"1m30s", 90 * time.Second, false},
		{"-1", 0, true},
		{"soon", 0, true},
	} {
		var d Duration
		err := d.Set(tt.in)
		if (err != nil) != tt.err || (err == nil && time.Duration(d) != tt.want) {
			t.Errorf("Set(%q) = %v, %v; want %v (error %v)", tt.in, time.Duration(d), err, tt.want, tt.err)
		}
	}
}

func TestNodeID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []byte
		err  bool
	}{
		{"", nil, false},
		{"0x0013A200", []byte{0x00, 0x13, 0xA2, 0x00}, false},
		{"node-1", []byte("node-1"), false},
		{"0xZZ", nil, true},
	} {
		c := Common{Encapsulate: tt.in}
		got, err := c.NodeID()
		if (err != nil) != tt.err || !bytes.Equal(got, tt.want) {
			t.Errorf("NodeID(%q) = %x, %v; want %x (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestWords(t *testing.T) {
	rej := fmt.Errorf("publish: %w", &client.RejectedError{Type: mqttsn.TypePuback, Code: mqttsn.RejectedInvalidTopicID})
	if got := Words(rej); got != "rejected: invalid topic id" {
		t.Errorf("Words(refusal) = %q", got)
	}
	if got := Words(fmt.Errorf("waiting for CONNACK: %w", context.DeadlineExceeded)); !strings.HasPrefix(got, "timeout: ") {
		t.Errorf("Words(deadline) = %q", got)
	}
	if got := Words(errors.New("other")); got != "other" {
		t.Errorf("Words(other) = %q", got)
	}
}

func TestParseQoS(t *testing.T) {
	if _, err := ParseQoS(-1, false); err == nil {
		t.Error("QoS -1 accepted where it is not allowed")
	}
	for q := -1; q <= 2; q++ {
		if got, err := ParseQoS(q, true); err != nil || int(got) != q {
			t.Errorf("ParseQoS(%d) = %v, %v", q, got, err)
		}
	}
	if _, err := ParseQoS(3, true); err == nil {
		t.Error("QoS 3 accepted")
	}
}

// TestUDPConn exchanges datagrams between two client sockets.
func TestUDPConn(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:1")
	a, err := ListenUDP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenUDP(lo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("hi"), transport.UDPAddr(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), b.LocalAddr().AddrPort().Port()))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hi" || from.AddrPort().Port() != a.LocalAddr().AddrPort().Port() {
		t.Errorf("ReadFrom = %q from %v, %v", buf[:n], from, err)
	}
	if _, err := a.WriteTo([]byte("x"), transport.XBeeAddr(1)); err == nil {
		t.Error("WriteTo an XBee address succeeded")
	}
	b.Close()
	if _, _, err := b.ReadFrom(buf); err == nil {
		t.Error("ReadFrom after Close succeeded")
	}
}

func TestUDPWriteBatch(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:1")
	a, err := ListenUDP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenUDP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	to := transport.UDPAddr(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), b.LocalAddr().AddrPort().Port()))
	if n, err := a.WriteBatchTo([][]byte{[]byte("one"), []byte("two"), []byte("three")}, to); n != 3 || err != nil {
		t.Fatalf("WriteBatchTo = %d, %v", n, err)
	}
	buf := make([]byte, 16)
	for _, want := range []string{"one", "two", "three"} {
		n, _, err := b.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("ReadFrom = %q, %v; want %q", buf[:n], err, want)
		}
	}
}
