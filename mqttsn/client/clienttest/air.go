//go:build linux

package clienttest

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/snbridge/snbridge/transport/xbee"
)

// Radio addresses used by [Air].
const (
	ClientEUI64      uint64 = 0x0013A20000000001
	CoordinatorEUI64 uint64 = 0x0013A200000000C0
)

// Air plays two XBee radios and the air between them, each radio on the
// master side of a pseudo-terminal: the client tool opens ClientDevice,
// the gateway opens GatewayDevice (the coordinator). Real API frames
// cross: AT SH/SL are answered, every Transmit Request gets a Transmit
// Status and arrives at the other radio as a Receive Packet when it is
// addressed to it (the client reaches the coordinator by 0x0000000000000000
// or its address; broadcasts reach both).
type Air struct {
	ClientDevice, GatewayDevice string

	t     testing.TB
	mode  xbee.APIMode
	sides [2]*airSide
	wg    sync.WaitGroup
}

type airSide struct {
	eui           uint64
	master, slave *os.File
	wmu           sync.Mutex
}

// NewAir opens the two pseudo-terminals in API mode 1 or 2; everything is
// closed when the test ends.
func NewAir(t testing.TB, mode xbee.APIMode) *Air {
	t.Helper()
	a := &Air{t: t, mode: mode}
	dir := t.TempDir()
	for i, eui := range []uint64{ClientEUI64, CoordinatorEUI64} {
		s := openSide(t, eui)
		a.sides[i] = s
		link := filepath.Join(dir, []string{"client-radio", "gateway-radio"}[i])
		if err := os.Symlink(s.slave.Name(), link); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			a.ClientDevice = link
		} else {
			a.GatewayDevice = link
		}
	}
	for i := range a.sides {
		a.wg.Go(func() { a.relay(i) })
	}
	t.Cleanup(func() {
		for _, s := range a.sides {
			s.master.Close()
			s.slave.Close()
		}
		a.wg.Wait()
	})
	return a
}

func openSide(t testing.TB, eui uint64) *airSide {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("get termios: %v", err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatalf("set termios: %v", err)
	}
	// A non-blocking duplicate, so that the runtime poller serves the
	// master and Close unblocks its Read.
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Fatalf("dup pty master: %v", err)
	}
	m.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatalf("pty master non-blocking: %v", err)
	}
	return &airSide{eui: eui, master: os.NewFile(uintptr(fd), "ptmx"), slave: s}
}

// relay reads the frames radio i's host writes and plays the radio.
func (a *Air) relay(i int) {
	me, other := a.sides[i], a.sides[1-i]
	d := xbee.NewDecoder(a.mode, 0)
	buf := make([]byte, 4096)
	for {
		n, err := me.master.Read(buf)
		if err != nil {
			return
		}
		d.Feed(buf[:n])
		for {
			f, ok := d.Next()
			if !ok {
				break
			}
			a.frame(me, other, bytes.Clone(f))
		}
	}
}

func (a *Air) frame(me, other *airSide, f []byte) {
	switch xbee.FrameType(f[0]) {
	case xbee.TypeATCommand:
		var at xbee.ATCommand
		if at.Parse(f) != nil {
			return
		}
		resp := xbee.ATResponse{FrameID: at.FrameID, Command: at.Command}
		switch string(at.Command[:]) {
		case "SH":
			resp.Data = be32(uint32(me.eui >> 32))
		case "SL":
			resp.Data = be32(uint32(me.eui))
		default:
			resp.Status = 2
		}
		a.send(me, resp.AppendFrameData(nil))
	case xbee.TypeTxRequest:
		var tx xbee.TxRequest
		if tx.Parse(f) != nil {
			return
		}
		if tx.FrameID != 0 {
			st := xbee.TxStatus{FrameID: tx.FrameID, Dst16: 0x0001, Delivery: xbee.DeliverySuccess}
			a.send(me, st.AppendFrameData(nil))
		}
		toCoordinator := other.eui == CoordinatorEUI64 && tx.Dst64 == xbee.CoordinatorEUI64
		if tx.Dst64 == other.eui || toCoordinator || tx.Dst64 == xbee.BroadcastEUI64 {
			rx := xbee.RxPacket{Src64: me.eui, Src16: uint16(me.eui), Options: xbee.RxAcknowledged, Data: tx.Data}
			a.send(other, rx.AppendFrameData(nil))
		}
	}
}

func (a *Air) send(s *airSide, data []byte) {
	b, err := xbee.AppendFrame(nil, a.mode, data)
	if err != nil {
		return
	}
	s.wmu.Lock()
	s.master.Write(b) // fails only once the test is over
	s.wmu.Unlock()
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
