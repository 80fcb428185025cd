//go:build linux

package xbee

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/snbridge/snbridge/transport"
)

// wait bounds every wait for an event in these tests.
const wait = 10 * time.Second

// radio plays an XBee on the master side of a pseudo-terminal: it decodes
// the frames the transport writes, answers AT SH/SL, and sends real API
// frames. The transport opens the slave side through a symlink, so that
// an unplug can be simulated by closing the master and re-pointing the
// link at a new pty.
type radio struct {
	t      *testing.T
	mode   APIMode
	sh, sl uint32

	master, slave *os.File
	frames        chan []byte  // frame data from the transport, AT commands excepted
	at            chan [2]byte // AT commands answered
	done          chan struct{}
	wg            sync.WaitGroup
	wmu           sync.Mutex
	closeOnce     sync.Once

	rawMu sync.Mutex
	raw   []byte // every byte the transport wrote
}

// newRadio opens a pty and points link at its slave.
func newRadio(t *testing.T, mode APIMode, link string) *radio {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	m = pollable(t, m)
	// Raw mode from the start, so nothing written before the transport
	// opens the slave is echoed or line-buffered.
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
	// Re-point the link atomically.
	tmp := link + ".new"
	if err := os.Symlink(s.Name(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	r := &radio{
		t: t, mode: mode, sh: 0x0013A200, sl: 0x40A1B2C3,
		master: m, slave: s,
		frames: make(chan []byte, 64),
		at:     make(chan [2]byte, 16),
		done:   make(chan struct{}),
	}
	r.wg.Go(r.readLoop)
	t.Cleanup(r.unplug)
	return r
}

// pollable returns f on a non-blocking duplicate descriptor, so that the
// runtime poller serves it and Close unblocks a pending Read. (pty.Open
// calls Fd, which leaves the master in blocking mode.)
func pollable(t *testing.T, f *os.File) *os.File {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatalf("dup pty master: %v", err)
	}
	f.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatalf("pty master non-blocking: %v", err)
	}
	return os.NewFile(uintptr(fd), "ptmx")
}

func (r *radio) readLoop() {
	d := NewDecoder(r.mode, 0)
	buf := make([]byte, 4096)
	for {
		n, err := r.master.Read(buf)
		if err != nil {
			return
		}
		r.rawMu.Lock()
		r.raw = append(r.raw, buf[:n]...)
		r.rawMu.Unlock()
		d.Feed(buf[:n])
		for {
			f, ok := d.Next()
			if !ok {
				break
			}
			if FrameType(f[0]) == TypeATCommand {
				r.answerAT(f)
				continue
			}
			select {
			case r.frames <- bytes.Clone(f):
			case <-r.done:
				return
			}
		}
	}
}

func (r *radio) answerAT(f []byte) {
	var at ATCommand
	if err := at.Parse(f); err != nil {
		r.t.Errorf("radio: bad AT command %x: %v", f, err)
		return
	}
	resp := ATResponse{FrameID: at.FrameID, Command: at.Command}
	switch string(at.Command[:]) {
	case "SH":
		resp.Data = []byte{byte(r.sh >> 24), byte(r.sh >> 16), byte(r.sh >> 8), byte(r.sh)}
	case "SL":
		resp.Data = []byte{byte(r.sl >> 24), byte(r.sl >> 16), byte(r.sl >> 8), byte(r.sl)}
	default:
		resp.Status = 2 // invalid command
	}
	// Not r.send: this runs on the radio's goroutine, where Fatal is not
	// allowed, and a write after unplug is expected to fail.
	r.wmu.Lock()
	r.master.Write(frame(r.t, r.mode, resp.AppendFrameData(nil)))
	r.wmu.Unlock()
	select {
	case r.at <- at.Command:
	default:
	}
}

// unplug closes both ends of the pty, as when the dongle is pulled out.
func (r *radio) unplug() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.master.Close()
		r.slave.Close()
		r.wg.Wait()
	})
}

// sendRaw writes bytes to the transport as they are.
func (r *radio) sendRaw(b []byte) {
	r.t.Helper()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if _, err := r.master.Write(b); err != nil {
		r.t.Fatalf("radio: write: %v", err)
	}
}

// send writes one frame carrying data.
func (r *radio) send(data []byte) {
	r.t.Helper()
	r.sendRaw(frame(r.t, r.mode, data))
}

// sendRx sends a Receive Packet.
func (r *radio) sendRx(src64 uint64, src16 uint16, payload []byte) {
	r.t.Helper()
	p := RxPacket{Src64: src64, Src16: src16, Options: RxAcknowledged, Data: payload}
	r.send(p.AppendFrameData(nil))
}

// expect returns the next frame from the transport, which must be of
// type t.
func (r *radio) expect(typ FrameType) []byte {
	r.t.Helper()
	select {
	case f := <-r.frames:
		if FrameType(f[0]) != typ {
			r.t.Fatalf("radio got a %v frame %x, want %v", FrameType(f[0]), f, typ)
		}
		return f
	case <-time.After(wait):
		r.t.Fatalf("radio: no %v frame within %v", typ, wait)
	}
	return nil
}

// wire returns a copy of every byte the transport wrote so far.
func (r *radio) wire() []byte {
	r.rawMu.Lock()
	defer r.rawMu.Unlock()
	return bytes.Clone(r.raw)
}

// expectTx returns the next Transmit Request from the transport.
func (r *radio) expectTx() TxRequest {
	r.t.Helper()
	var tx TxRequest
	if err := tx.Parse(r.expect(TypeTxRequest)); err != nil {
		r.t.Fatal(err)
	}
	return tx
}

// waitAT waits until the radio has answered the address queries.
func (r *radio) waitAT() {
	r.t.Helper()
	seen := map[string]bool{}
	for !seen["SH"] || !seen["SL"] {
		select {
		case cmd := <-r.at:
			seen[string(cmd[:])] = true
		case <-time.After(wait):
			r.t.Fatalf("radio: no AT SH/SL within %v", wait)
		}
	}
}

type datagram struct {
	data []byte
	from transport.Addr
}

// testConn is a Conn running on a pty, with a goroutine reading it.
type testConn struct {
	*Conn
	rx <-chan datagram
}

func testConfig(t *testing.T, mode APIMode) Config {
	return Config{
		Device:       filepath.Join(t.TempDir(), "ttyXBEE"),
		APIMode:      int(mode),
		FrameTimeout: 20 * time.Millisecond,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel),
	}
}

// startConn runs a Conn for cfg until the test ends. It does not wait for
// the device to open.
func startConn(t *testing.T, cfg Config) testConn {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rx := make(chan datagram, 16)
	runErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { runErr <- c.Run(ctx) })
	wg.Go(func() {
		defer close(rx)
		buf := make([]byte, 512)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("ReadFrom: %v, want only net.ErrClosed", err)
				}
				return
			}
			select {
			case rx <- datagram{bytes.Clone(buf[:n]), from}:
			case <-c.closed:
				return
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return testConn{Conn: c, rx: rx}
}

// waitUp waits until the device is open (or closed, when up is false).
func (c testConn) waitUp(t *testing.T, up bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	waitFor := c.WaitDisconnected
	if up {
		waitFor = c.WaitConnected
	}
	if err := waitFor(ctx); err != nil {
		t.Fatalf("waiting for connected=%v: %v", up, err)
	}
}

// recv returns the next datagram ReadFrom returned.
func (c testConn) recv(t *testing.T) datagram {
	t.Helper()
	select {
	case d, ok := <-c.rx:
		if !ok {
			t.Fatal("ReadFrom ended")
		}
		return d
	case <-time.After(wait):
		t.Fatalf("no datagram within %v", wait)
	}
	return datagram{}
}

// write calls WriteTo and fails the test on error.
func (c testConn) write(t *testing.T, b []byte, to transport.Addr) {
	t.Helper()
	if n, err := c.WriteTo(b, to); err != nil || n != len(b) {
		t.Fatalf("WriteTo(%d bytes, %v) = %d, %v", len(b), to, n, err)
	}
}
