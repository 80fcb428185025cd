//go:build unix

package udp

import (
	"syscall"
	"testing"
)

func TestRecvBuffer(t *testing.T) {
	const req = 32 << 10
	c := listenT(t, Config{Listen: "127.0.0.1:0", RecvBuffer: req})
	got, err := getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	// Linux reports twice the size it grants; other systems the size.
	if got < req || got > 2*req {
		t.Errorf("SO_RCVBUF = %d after asking for %d", got, req)
	}
	roundTrip(t, listenT(t, Config{Listen: "127.0.0.1:0"}), c)
}

// TestBroadcastOption checks SO_BROADCAST. The net package sets it on every
// UDP socket already; Listen sets it again for an IPv4 broadcast target so
// as not to depend on that.
func TestBroadcastOption(t *testing.T) {
	for _, tt := range []struct {
		listen, bcast string
		want          int
	}{
		{"0.0.0.0:0", "255.255.255.255:1884", 1},
		{"0.0.0.0:0", "192.0.2.255:1884", 1},
		{":0", "255.255.255.255:1884", 1},
	} {
		c := listenT(t, Config{Listen: tt.listen, Broadcast: tt.bcast})
		got, err := getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_BROADCAST)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("listen %s broadcast %q: SO_BROADCAST = %d, want %d", tt.listen, tt.bcast, got, tt.want)
		}
	}
}
