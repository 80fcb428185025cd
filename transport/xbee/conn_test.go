//go:build linux

package xbee

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/snbridge/snbridge/transport"
)

func TestReceive(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t, mode)
			r := newRadio(t, mode, cfg.Device)
			c := startConn(t, cfg)
			c.waitUp(t, true)

			r.sendRx(sensorA, 0x7D7E, escapy)
			d := c.recv(t)
			if !bytes.Equal(d.data, escapy) || d.from != transport.XBeeAddr(sensorA) {
				t.Fatalf("ReadFrom = %x from %v, want %x from %v", d.data, d.from, escapy, transport.XBeeAddr(sensorA))
			}
			// The 16-bit address of the sender is used for the reply.
			c.write(t, []byte{0x02, 0x17}, d.from)
			if tx := r.expectTx(); tx.Dst64 != sensorA || tx.Dst16 != 0x7D7E {
				t.Errorf("reply to %016x/%04x, want %016x/7d7e", tx.Dst64, tx.Dst16, uint64(sensorA))
			}
			// And refreshed by each Receive Packet.
			r.sendRx(sensorA, 0x1111, []byte{0x02, 0x16})
			c.recv(t)
			c.write(t, []byte{0x02, 0x17}, d.from)
			if tx := r.expectTx(); tx.Dst16 != 0x1111 {
				t.Errorf("reply to 16-bit %04x, want 1111", tx.Dst16)
			}
			if s := c.Stats(); s.RxPackets != 2 || s.Decoder.Frames < 2 {
				t.Errorf("stats %+v, want 2 datagrams and at least 2 frames", s)
			}
		})
	}
}

func TestTransmit(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t, mode)
			r := newRadio(t, mode, cfg.Device)
			c := startConn(t, cfg)
			c.waitUp(t, true)

			c.write(t, escapy, transport.XBeeAddr(sensorB))
			tx := r.expectTx()
			if tx.FrameID == 0 {
				t.Errorf("frame id 0: no Transmit Status requested")
			}
			want := TxRequest{FrameID: tx.FrameID, Dst64: sensorB, Dst16: UnknownAddr16, Radius: 0, Options: 0, Data: escapy}
			if d := cmp.Diff(want, tx); d != "" {
				t.Errorf("Transmit Request (-want +got):\n%s", d)
			}

			// Broadcast: 64-bit 0xFFFF, 16-bit 0xFFFE.
			c.write(t, []byte{0x03, 0x01, 0x05}, c.BroadcastAddr())
			tx = r.expectTx()
			want = TxRequest{FrameID: tx.FrameID, Dst64: 0xFFFF, Dst16: 0xFFFE, Data: []byte{0x03, 0x01, 0x05}}
			if d := cmp.Diff(want, tx); d != "" {
				t.Errorf("broadcast Transmit Request (-want +got):\n%s", d)
			}
			if err := c.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.TxFrames != 2 {
				t.Errorf("TxFrames = %d, want 2", s.TxFrames)
			}
		})
	}
}

// TestTransmitWire checks the exact bytes of a Transmit Request on the
// wire, escaping included.
func TestTransmitWire(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t, mode)
			r := newRadio(t, mode, cfg.Device)
			c := startConn(t, cfg)
			c.waitUp(t, true)
			r.waitAT() // the address queries are written first

			// Frame ids 1 and 2 went to AT SH and SL.
			c.write(t, []byte{0x7E, 0x7D, 0x11, 0x13}, transport.XBeeAddr(0x0013A200400A0127))
			got := r.expect(TypeTxRequest)
			data := unhex(t, "10 03 0013A200400A0127 FFFE 00 00 7E7D1113")
			if !bytes.Equal(got, data) {
				t.Fatalf("frame data %x, want %x", got, data)
			}
			want := map[APIMode]string{
				APIMode1: "7E 0012 10 03 0013A200400A0127 FFFE 00 00 7E7D1113 A9",
				APIMode2: "7E 0012 10 03 007D33A200400A0127 FFFE 00 00 7D5E7D5D7D317D33 A9",
			}[mode]
			// The wire holds the two AT queries, then this frame.
			if wire := r.wire(); !bytes.HasSuffix(wire, unhex(t, want)) {
				t.Errorf("wire %x, want it to end in %s", wire, want)
			}
		})
	}
}

func TestTxStatus(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	r := newRadio(t, APIMode2, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)

	a, b := transport.XBeeAddr(sensorA), transport.XBeeAddr(sensorB)
	c.write(t, []byte{0x02, 0x17}, a)
	idA := r.expectTx().FrameID
	c.write(t, []byte{0x02, 0x17}, b)
	idB := r.expectTx().FrameID

	for _, s := range []TxStatus{
		{FrameID: idA, Dst16: 0x4321, Delivery: DeliverySuccess},
		{FrameID: idB, Dst16: 0xFFFE, Retries: 3, Delivery: DeliveryNetworkAckFail},
		{FrameID: 0xF0, Dst16: 0xFFFE, Delivery: DeliverySuccess}, // never sent
	} {
		r.send(s.AppendFrameData(nil))
	}
	// Frames are handled in order: once this datagram is read, the
	// statuses before it are counted.
	r.sendRx(sensorA, 0x4321, []byte{0x02, 0x16})
	c.recv(t)

	s := c.Stats()
	if s.TxDelivered != 1 || s.TxFailed != 1 || s.TxStatusUnmatched != 1 {
		t.Errorf("delivered %d failed %d unmatched %d, want 1 1 1", s.TxDelivered, s.TxFailed, s.TxStatusUnmatched)
	}
	want := map[transport.Addr]DestStats{
		a: {Sent: 1, Delivered: 1},
		b: {Sent: 1, Failed: 1, LastFailure: DeliveryNetworkAckFail},
	}
	if d := cmp.Diff(want, s.PerDest); d != "" {
		t.Errorf("PerDest (-want +got):\n%s", d)
	}
}

func TestResync(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t, mode)
			r := newRadio(t, mode, cfg.Device)
			c := startConn(t, cfg)
			c.waitUp(t, true)
			r.waitAT() // no answer may land between the writes below

			good := RxPacket{Src64: sensorA, Src16: 0x1234, Data: escapy}
			goodFrame := frame(t, mode, good.AppendFrameData(nil))
			badSum := bytes.Clone(goodFrame)
			badSum[len(badSum)-1] ^= 0x01
			if mode == APIMode2 && badSum[len(badSum)-2] == escapeByte {
				t.Fatal("test frame ends in an escape") // would change the escaping
			}
			var stream []byte
			stream = append(stream, "garbage\x00\xff"...)
			stream = append(stream, badSum...)
			stream = append(stream, 0x7E, 0xFF, 0xFF, 0x90, 0x00) // impossible length
			stream = append(stream, goodFrame[:9]...)             // truncated
			stream = append(stream, goodFrame...)
			// Split the good frame across writes too.
			r.sendRaw(stream[:len(stream)-5])
			r.sendRaw(stream[len(stream)-5:])

			d := c.recv(t)
			if !bytes.Equal(d.data, escapy) || d.from != transport.XBeeAddr(sensorA) {
				t.Fatalf("first datagram after bad bytes %x from %v, want the good one", d.data, d.from)
			}
			r.sendRx(sensorB, 0x0001, []byte{0x02, 0x16})
			if d := c.recv(t); d.from != transport.XBeeAddr(sensorB) {
				t.Fatalf("next datagram from %v, want %v", d.from, transport.XBeeAddr(sensorB))
			}
			s := c.Stats()
			if s.RxPackets != 2 {
				t.Errorf("RxPackets = %d, want 2 (nothing else delivered)", s.RxPackets)
			}
			ds := s.Decoder
			if ds.SkippedBytes < 9 || ds.BadChecksum < 1 || ds.BadLength < 1 {
				t.Errorf("decoder stats %+v: want skipped >= 9, bad checksum >= 1, bad length >= 1", ds)
			}
			if mode == APIMode2 && ds.Truncated < 1 {
				t.Errorf("decoder stats %+v: want truncated >= 1", ds)
			}
		})
	}
}

// TestTruncatedThenQuiet covers API mode 1, where a truncated frame's
// length swallows the good frame after it: the quiet line gives it up.
func TestTruncatedThenQuiet(t *testing.T) {
	cfg := testConfig(t, APIMode1)
	r := newRadio(t, APIMode1, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)
	r.waitAT()

	// Claims 0x80 bytes: the good frame alone cannot complete it.
	r.sendRaw(append(unhex(t, "7E 0080 90 00 13 A2"), frame(t, APIMode1,
		(&RxPacket{Src64: sensorA, Data: []byte{0x02, 0x16}}).AppendFrameData(nil))...))
	if d := c.recv(t); !bytes.Equal(d.data, []byte{0x02, 0x16}) {
		t.Fatalf("datagram %x, want 0216", d.data)
	}
	if s := c.Stats().Decoder; s.Truncated != 1 {
		t.Errorf("Truncated = %d, want 1", s.Truncated)
	}
}

func TestOtherFrames(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	r := newRadio(t, APIMode2, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)
	r.waitAT()

	r.send([]byte{0x8A, byte(ModemJoined)})
	r.send(unhex(t, "95 0013A20040A1B201 1234 02"))     // Node Identification: not handled
	r.send([]byte{0xA1, 0x00})                          // Route Record: not handled
	r.send([]byte{0x90, 0x00, 0x13})                    // too short
	r.send(unhex(t, "90 0013A20040A1B201 1234 01"))     // no RF data
	r.sendRx(sensorA, 0x1234, []byte{0x02, byte(0x16)}) // marker
	c.recv(t)

	s := c.Stats()
	if s.ModemStatus != 1 || s.LastModemStatus != ModemJoined {
		t.Errorf("modem status %d (last %v), want 1 (joined network)", s.ModemStatus, s.LastModemStatus)
	}
	if s.UnknownFrames != 2 || s.BadFrames != 2 || s.RxPackets != 1 {
		t.Errorf("unknown %d bad %d rx %d, want 2 2 1", s.UnknownFrames, s.BadFrames, s.RxPackets)
	}
	if got, want := c.LocalAddr(), transport.XBeeAddr(0x0013A20040A1B2C3); got != want {
		t.Errorf("LocalAddr = %v, want %v", got, want)
	}
}

func TestOversize(t *testing.T) {
	cfg := testConfig(t, APIMode1)
	r := newRadio(t, APIMode1, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)

	if c.MaxPayload() != DefaultMaxPayload {
		t.Fatalf("MaxPayload = %d, want %d", c.MaxPayload(), DefaultMaxPayload)
	}
	n, err := c.WriteTo(make([]byte, DefaultMaxPayload+1), transport.XBeeAddr(sensorA))
	if n != 0 || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "85 bytes") {
		t.Fatalf("WriteTo(85 bytes) = %d, %v; want ErrTooLarge naming the size", n, err)
	}
	full := bytes.Repeat([]byte{0x7E}, DefaultMaxPayload)
	c.write(t, full, transport.XBeeAddr(sensorA))
	if tx := r.expectTx(); !bytes.Equal(tx.Data, full) {
		t.Fatalf("next frame carries %d bytes, want the %d-byte datagram", len(tx.Data), len(full))
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.TxOversize != 1 || s.TxFrames != 1 {
		t.Errorf("TxOversize %d TxFrames %d, want 1 1", s.TxOversize, s.TxFrames)
	}
	if _, err := c.WriteTo([]byte{1}, transport.UDPAddr(netip.MustParseAddrPort("127.0.0.1:1884"))); err == nil {
		t.Error("WriteTo a UDP address succeeded")
	}
}

// TestUnplug pulls the dongle out under the transport and plugs a new one
// in at the same path: ReadFrom keeps blocking through the outage, WriteTo
// fails fast, and traffic carries on after the reconnect.
func TestUnplug(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t, mode)
			r1 := newRadio(t, mode, cfg.Device)
			c := startConn(t, cfg)
			c.waitUp(t, true)
			r1.sendRx(sensorA, 0x0001, []byte{0x02, 0x16})
			c.recv(t)

			r1.unplug()
			c.waitUp(t, false)
			if _, err := c.WriteTo([]byte{0x02, 0x17}, transport.XBeeAddr(sensorA)); !errors.Is(err, ErrNotConnected) {
				t.Fatalf("WriteTo during the outage: %v, want ErrNotConnected", err)
			}

			r2 := newRadio(t, mode, cfg.Device)
			c.waitUp(t, true)
			r2.sendRx(sensorA, 0x0002, escapy)
			if d := c.recv(t); !bytes.Equal(d.data, escapy) {
				t.Fatalf("after reconnect: datagram %x, want %x", d.data, escapy)
			}
			c.write(t, escapy, transport.XBeeAddr(sensorA))
			if tx := r2.expectTx(); !bytes.Equal(tx.Data, escapy) || tx.Dst16 != 0x0002 {
				t.Fatalf("after reconnect: Transmit Request %+v", tx)
			}
			s := c.Stats()
			if s.Opens != 2 || s.Unplugs != 1 || s.TxNotConnected != 1 {
				t.Errorf("opens %d unplugs %d not-connected %d, want 2 1 1", s.Opens, s.Unplugs, s.TxNotConnected)
			}
		})
	}
}

// TestDeviceAppearsLater starts the transport before the dongle is
// plugged in.
func TestDeviceAppearsLater(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	c := startConn(t, cfg)
	if _, err := c.WriteTo([]byte{1, 2}, transport.XBeeAddr(sensorA)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("WriteTo before the device exists: %v, want ErrNotConnected", err)
	}
	r := newRadio(t, APIMode2, cfg.Device)
	c.waitUp(t, true)
	r.sendRx(sensorA, 1, []byte{0x02, 0x16})
	c.recv(t)
	if s := c.Stats(); s.Opens != 1 {
		t.Errorf("Opens = %d, want 1", s.Opens)
	}
}

func TestExitOnError(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	cfg.ExitOnError = true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), cfg.Device) {
		t.Fatalf("Run = %v, want an error naming %s", err, cfg.Device)
	}
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Run failed: %v, want net.ErrClosed", err)
	}
}

func TestClose(t *testing.T) {
	t.Run("before run", func(t *testing.T) {
		c, err := New(Config{Device: "/dev/null"})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, _, err := c.ReadFrom(make([]byte, 10))
			done <- err
		}()
		if _, err := c.WriteTo([]byte{1}, transport.XBeeAddr(1)); !errors.Is(err, ErrNotConnected) {
			t.Errorf("WriteTo before Run: %v, want ErrNotConnected", err)
		}
		if err := c.Flush(t.Context()); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Flush before Run: %v, want ErrNotConnected", err)
		}
		c.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
		if err := c.Run(t.Context()); err != nil {
			t.Errorf("Run after Close = %v, want nil", err)
		}
		if _, err := c.WriteTo([]byte{1}, transport.XBeeAddr(1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
		}
	})
	t.Run("while open", func(t *testing.T) {
		cfg := testConfig(t, APIMode1)
		newRadio(t, APIMode1, cfg.Device)
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		runErr := make(chan error)
		go func() { runErr <- c.Run(context.Background()) }()
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := <-runErr; err != nil {
			t.Errorf("Run after Close = %v, want nil", err)
		}
		if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
	})
}

// TestSerialSettings opens the pty with non-default settings and reads
// back what the tty kept. A pty forces 8 data bits without parity (the
// Linux pty driver rewrites CSIZE and PARENB), so those two can only be
// checked on a real port; stop bits, baud and RTS/CTS are kept.
func TestSerialSettings(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	cfg.Baud = 38400
	cfg.StopBits = 2
	cfg.Parity = ParityEven
	cfg.DataBits = 7
	cfg.FlowControl = FlowRTSCTS
	r := newRadio(t, APIMode2, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)

	tio, err := unix.IoctlGetTermios(int(r.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Cflag&unix.CRTSCTS == 0 {
		t.Errorf("CRTSCTS not set: cflag %#o", tio.Cflag)
	}
	if tio.Cflag&unix.CSTOPB == 0 {
		t.Errorf("CSTOPB not set: cflag %#o", tio.Cflag)
	}
	if tio.Cflag&unix.CBAUD != unix.B38400 {
		t.Errorf("baud bits %#o, want B38400 %#o", tio.Cflag&unix.CBAUD, unix.B38400)
	}
	r.sendRx(sensorA, 1, escapy)
	if d := c.recv(t); !bytes.Equal(d.data, escapy) {
		t.Errorf("datagram %x, want %x", d.data, escapy)
	}
}

func TestFlush(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	r := newRadio(t, APIMode2, cfg.Device)
	c := startConn(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c.waitUp(t, true)
	for i := range 5 {
		c.write(t, []byte{0x02, byte(i)}, transport.XBeeAddr(sensorA))
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if s := c.Stats(); s.TxFrames != 5 {
		t.Errorf("TxFrames after Flush = %d, want 5", s.TxFrames)
	}
	for i := range 5 {
		if tx := r.expectTx(); tx.Data[1] != byte(i) {
			t.Fatalf("frame %d carries %x", i, tx.Data)
		}
	}
}

// syncBuffer is a bytes.Buffer the transport's goroutines may log into
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTxFailedLogRateLimited: a dead node fails every transmission; its
// failures are all counted but logged only at the 1st, 2nd, 4th, 8th...
// with the running count, and another node's first failure is still
// logged.
func TestTxFailedLogRateLimited(t *testing.T) {
	cfg := testConfig(t, APIMode2)
	var logs syncBuffer
	cfg.Logger = zerolog.New(zerolog.MultiLevelWriter(&logs, zerolog.NewTestWriter(t)))
	r := newRadio(t, APIMode2, cfg.Device)
	c := startConn(t, cfg)
	c.waitUp(t, true)

	fail := func(to uint64) {
		c.write(t, []byte{0x02, 0x17}, transport.XBeeAddr(to))
		id := r.expectTx().FrameID
		st := TxStatus{FrameID: id, Dst16: 0xFFFE, Retries: 3, Delivery: DeliveryNetworkAckFail}
		r.send(st.AppendFrameData(nil))
	}
	const dead = 20
	for range dead {
		fail(sensorA)
	}
	fail(sensorB)
	// Frames are handled in order: once this datagram is read, every
	// status before it has been handled.
	r.sendRx(sensorA, 0x4321, []byte{0x02, 0x16})
	c.recv(t)

	if s := c.Stats(); s.TxFailed != dead+1 || s.PerDest[transport.XBeeAddr(sensorA)].Failed != dead {
		t.Errorf("TxFailed %d, sensor A failed %d; want %d and %d", s.TxFailed, s.PerDest[transport.XBeeAddr(sensorA)].Failed, dead+1, dead)
	}
	type line struct {
		Message string `json:"message"`
		Addr    string `json:"addr"`
		Failed  uint64 `json:"failed"`
	}
	var got []line
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if v.Message == "transmit failed" {
			got = append(got, v)
		}
	}
	a, b := transport.XBeeAddr(sensorA).String(), transport.XBeeAddr(sensorB).String()
	want := []line{
		{"transmit failed", a, 1}, {"transmit failed", a, 2}, {"transmit failed", a, 4},
		{"transmit failed", a, 8}, {"transmit failed", a, 16}, {"transmit failed", b, 1},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("transmit failed lines (-want +got):\n%s", d)
	}
}
