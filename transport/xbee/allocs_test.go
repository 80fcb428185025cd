package xbee

import (
	"testing"

	"go.bug.st/serial"

	"github.com/snbridge/snbridge/transport"
)

// openPort stands in for an open port in unit tests of the hot paths,
// which never call it: WriteTo only checks that a port is set.
type openPort struct{ serial.Port }

// TestConnAllocs requires that a datagram costs no allocation on its way
// in (frame handling, ReadFrom) or out (WriteTo, encoding), once the
// destination is known.
func TestConnAllocs(t *testing.T) {
	c, err := New(Config{Device: "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.setPortLocked(openPort{})
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.setPortLocked(nil)
		c.mu.Unlock()
		c.Close()
	}()

	rx := (&RxPacket{Src64: sensorA, Src16: 0x1234, Data: escapy}).AppendFrameData(nil)
	buf := make([]byte, 256)
	to := transport.XBeeAddr(sensorA)
	allocs := testing.AllocsPerRun(1000, func() {
		c.handleFrame(rx)
		n, from, err := c.ReadFrom(buf)
		if err != nil || n != len(escapy) || from != to {
			t.Fatalf("ReadFrom = %d, %v, %v", n, from, err)
		}
		if _, err := c.WriteTo(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		it := <-c.txq
		c.wbuf, err = AppendFrame(c.wbuf[:0], c.mode, c.txBufs[it.idx][:it.n])
		if err != nil {
			t.Fatal(err)
		}
		c.txFree <- it.idx
		c.handleFrame((&TxStatus{FrameID: c.nextID}).AppendFrameData(c.wbuf[:0]))
	})
	if allocs != 0 {
		t.Errorf("%v allocs per datagram in and out, want 0", allocs)
	}
	if s := c.Stats(); s.TxDelivered < 1000 || s.RxPackets < 1000 {
		t.Errorf("stats %+v", s)
	}
}
