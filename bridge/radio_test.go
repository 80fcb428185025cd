package bridge_test

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
	"golang.org/x/sys/unix"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/xbee"
)

// fakeRadio plays the gateway's XBee dongle on the master side of a
// pseudo-terminal, with real API frames: it answers AT SH/SL, acknowledges
// every Transmit Request with a Transmit Status, hands the RF data to the
// radio node it is addressed to, and sends what nodes transmit as Receive
// Packets. The gateway's xbee transport opens the slave side with
// go.bug.st/serial, through a symlink, so that the dongle can be unplugged
// (both ends closed) and plugged in again (a new pty behind the link).
type fakeRadio struct {
	t    testing.TB
	mode xbee.APIMode
	link string

	wmu sync.Mutex // guards cur and writes to its master
	cur *ptyPair

	mu    sync.Mutex
	nodes map[uint64]*radioNode
	tx    chan xbee.TxRequest // when not nil, a copy of each Transmit Request (see tapTx)
}

// ptyPair is one plugged-in dongle.
type ptyPair struct {
	master, slave *os.File
	wg            sync.WaitGroup
}

func newFakeRadio(t testing.TB, mode xbee.APIMode) *fakeRadio {
	t.Helper()
	r := &fakeRadio{t: t, mode: mode, link: filepath.Join(t.TempDir(), "ttyXBee"), nodes: map[uint64]*radioNode{}}
	r.plug()
	t.Cleanup(r.unplug)
	return r
}

// plug opens a new pty and points the link at its slave.
func (r *fakeRadio) plug() {
	t := r.t
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	// A non-blocking master, so that Close unblocks its reader.
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	// Raw mode from the start: nothing echoed or line-buffered.
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	tmp := r.link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(s.Name(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.link); err != nil {
		t.Fatal(err)
	}
	p := &ptyPair{master: os.NewFile(uintptr(fd), "ptmx"), slave: s}
	p.wg.Add(1)
	go r.readLoop(p)
	r.wmu.Lock()
	r.cur = p
	r.wmu.Unlock()
}

// unplug closes both ends of the pty, as when the dongle is pulled out.
func (r *fakeRadio) unplug() {
	r.wmu.Lock()
	p := r.cur
	r.cur = nil
	r.wmu.Unlock()
	if p == nil {
		return
	}
	p.master.Close()
	p.slave.Close()
	p.wg.Wait()
}

// path is the device the gateway opens.
func (r *fakeRadio) path() string { return r.link }

func (r *fakeRadio) readLoop(p *ptyPair) {
	defer p.wg.Done()
	d := xbee.NewDecoder(r.mode, 0)
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		if err != nil {
			return
		}
		d.Feed(buf[:n])
		for {
			f, ok := d.Next()
			if !ok {
				break
			}
			r.handle(f)
		}
	}
}

func (r *fakeRadio) handle(f []byte) {
	switch xbee.FrameType(f[0]) {
	case xbee.TypeATCommand:
		var at xbee.ATCommand
		if at.Parse(f) != nil {
			return
		}
		resp := xbee.ATResponse{FrameID: at.FrameID, Command: at.Command}
		switch string(at.Command[:]) {
		case "SH":
			resp.Data = []byte{0x00, 0x13, 0xa2, 0x00}
		case "SL":
			resp.Data = []byte{0x40, 0x00, 0x00, 0x01}
		default:
			resp.Status = 2
		}
		r.write(resp.AppendFrameData(nil))
	case xbee.TypeTxRequest:
		var tx xbee.TxRequest
		if tx.Parse(f) != nil {
			return
		}
		if tx.FrameID != 0 {
			st := xbee.TxStatus{FrameID: tx.FrameID, Dst16: tx.Dst16}
			r.write(st.AppendFrameData(nil))
		}
		r.mu.Lock()
		if r.tx != nil {
			c := tx
			c.Data = bytes.Clone(tx.Data)
			select {
			case r.tx <- c:
			default:
			}
		}
		var to []*radioNode
		if tx.Dst64 == xbee.BroadcastEUI64 {
			for _, n := range r.nodes {
				to = append(to, n)
			}
		} else if n := r.nodes[tx.Dst64]; n != nil {
			to = append(to, n)
		}
		r.mu.Unlock()
		for _, n := range to {
			select {
			case n.in <- bytes.Clone(tx.Data):
			default: // a full node drops, as radio links do
			}
		}
	}
}

func (r *fakeRadio) write(data []byte) {
	b, err := xbee.AppendFrame(nil, r.mode, data)
	if err != nil {
		return
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.cur != nil { // unplugged: the frame is lost, as on the air
		_, _ = r.cur.master.Write(b)
	}
}

// node returns a transport.Conn for a remote radio with address eui:
// what it writes reaches the gateway as Receive Packets.
func (r *fakeRadio) node(eui uint64, nwk uint16) *radioNode {
	n := &radioNode{r: r, eui: eui, nwk: nwk, in: make(chan []byte, 64), closed: make(chan struct{})}
	r.mu.Lock()
	r.nodes[eui] = n
	r.mu.Unlock()
	return n
}

// radioNode is one remote radio as a transport.Conn for an MQTT-SN
// client; its only peer is the gateway's coordinator.
type radioNode struct {
	r      *fakeRadio
	eui    uint64
	nwk    uint16
	in     chan []byte
	closed chan struct{}
	once   sync.Once
}

func (n *radioNode) ReadFrom(b []byte) (int, transport.Addr, error) {
	select {
	case d := <-n.in:
		return copy(b, d), transport.XBeeAddr(0), nil
	case <-n.closed:
		return 0, transport.Addr{}, net.ErrClosed
	}
}

func (n *radioNode) WriteTo(b []byte, _ transport.Addr) (int, error) {
	select {
	case <-n.closed:
		return 0, net.ErrClosed
	default:
	}
	rx := xbee.RxPacket{Src64: n.eui, Src16: n.nwk, Options: xbee.RxAcknowledged, Data: b}
	n.r.write(rx.AppendFrameData(nil))
	return len(b), nil
}

func (n *radioNode) LocalAddr() transport.Addr     { return transport.XBeeAddr(n.eui) }
func (n *radioNode) BroadcastAddr() transport.Addr { return transport.Addr{} }
func (n *radioNode) MaxPayload() int               { return 84 }
func (n *radioNode) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

// startXBee opens the gateway's xbee transport on the radio's device and
// runs it until the test ends.
func startXBee(t testing.TB, r *fakeRadio) *xbee.Conn {
	t.Helper()
	c, err := xbee.New(xbee.Config{Device: r.path(), Baud: 115200, APIMode: int(r.mode), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("xbee.New: %v", err)
	}
	runPart(t, "xbee transport", func(ctx context.Context) error {
		err := c.Run(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	wctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatalf("xbee transport not connected: %v", err)
	}
	return c
}

// TestRadioAndUDPClients: a radio client (through a pty playing the XBee,
// in API mode 1 and 2, with payload bytes that need escaping) and a UDP
// client exchange messages through one gateway, and both reach the
// upstream broker.
func TestRadioAndUDPClients(t *testing.T) {
	for _, mode := range []xbee.APIMode{xbee.APIMode1, xbee.APIMode2} {
		t.Run(mode.String(), func(t *testing.T) {
			var radio *fakeRadio
			addRadio := func(c *bridge.Config) {
				radio = newFakeRadio(t, mode)
				c.Transports = append(c.Transports, startXBee(t, radio))
			}
			forModes(t, addRadio, func(t *testing.T, e *env) {
				ctx := ctxT(t)
				sub := bridgetest.Subscribe(t, e.url, "rf/#", 1)
				rc, rMsgs := snClientOn(t, radio.node(0x0013a20040a1b2c3, 0x1234), client.Config{Gateway: transport.XBeeAddr(0), ClientID: "radio-1", KeepAlive: time.Minute, CleanSession: true})
				uc, uMsgs := snClient(t, e.gw.Addr, client.Config{ClientID: "udp-1", KeepAlive: time.Minute, CleanSession: true})
				must(t, "radio connect", rc.Connect(ctx))
				must(t, "udp connect", uc.Connect(ctx))
				_, err := rc.Subscribe(ctx, client.FilterName("rf/down"), 2)
				must(t, "radio subscribe", err)
				_, err = uc.Subscribe(ctx, client.FilterName("rf/up"), 2)
				must(t, "udp subscribe", err)

				escapes := []byte{0x7e, 0x7d, 0x11, 0x13, 'x'}
				upID, err := rc.Register(ctx, "rf/up")
				must(t, "radio register", err)
				for qos := range 3 {
					must(t, "radio publish", rc.Publish(ctx, client.Registered(upID), mqttsnQoS(qos), false, escapes))
					if m := recvSN(t, uMsgs); m.Topic != "rf/up" || !bytes.Equal(m.Payload, escapes) {
						t.Fatalf("UDP client got %q % x", m.Topic, m.Payload)
					}
					if m := bridgetest.Recv(t, sub, waitTimeout); m.Topic != "rf/up" || !bytes.Equal(m.Payload, escapes) {
						t.Fatalf("broker got %q % x", m.Topic, m.Payload)
					}
				}
				downID, err := uc.Register(ctx, "rf/down")
				must(t, "udp register", err)
				must(t, "udp publish", uc.Publish(ctx, client.Registered(downID), 1, false, escapes))
				if m := recvSN(t, rMsgs); m.Topic != "rf/down" || !bytes.Equal(m.Payload, escapes) {
					t.Fatalf("radio client got %q % x", m.Topic, m.Payload)
				}
				bridgetest.Publish(t, e.url, "rf/down", []byte("from broker"), 2, false)
				if m := recvSN(t, rMsgs); m.Topic != "rf/down" || string(m.Payload) != "from broker" {
					t.Fatalf("radio client got %q %q", m.Topic, m.Payload)
				}
				must(t, "radio disconnect", rc.Disconnect(ctx))
			})
		})
	}
}

func mqttsnQoS(q int) mqttsn.QoS { return mqttsn.QoS(q) }

// TestRadioUnplug: the dongle is pulled out and plugged in again; the
// xbee transport reopens it and the radio client's session carries on
// (same topic id, same subscription), while the gateway kept serving.
func TestRadioUnplug(t *testing.T) {
	var radio *fakeRadio
	var xc *xbee.Conn
	addRadio := func(c *bridge.Config) {
		radio = newFakeRadio(t, xbee.APIMode2)
		xc = startXBee(t, radio)
		c.Transports = append(c.Transports, xc)
		c.Session.RetryInterval = time.Second // deliveries lost in the unplug are retried soon
	}
	forModeList(t, []string{"standalone"}, addRadio, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		// The client retransmits (§6.13): what it sends while the dongle
		// is out, or before the transport has reopened it, is lost.
		rc, rMsgs := snClientOn(t, radio.node(0x0013a20040a1b2c4, 0x4321), client.Config{
			Gateway: transport.XBeeAddr(0), ClientID: "radio-unplug", KeepAlive: time.Minute, CleanSession: true,
			Retry: 300 * time.Millisecond, MaxRetries: 30,
		})
		must(t, "connect", rc.Connect(ctx))
		id, err := rc.Register(ctx, "rf/unplug")
		must(t, "register", err)
		_, err = rc.Subscribe(ctx, client.FilterName("rf/unplug"), 1)
		must(t, "subscribe", err)

		radio.unplug()
		radio.plug()
		must(t, "publish after replug", rc.Publish(ctx, client.Registered(id), 1, false, []byte("still here")))
		if m := recvSN(t, rMsgs); m.Topic != "rf/unplug" || string(m.Payload) != "still here" {
			t.Fatalf("got %q %q", m.Topic, m.Payload)
		}
		if s := e.gw.Stats(); s.SessionsOpened != 1 {
			t.Errorf("%d sessions opened, want the one session to carry on", s.SessionsOpened)
		}
		if s := xc.Stats(); s.Opens < 2 {
			t.Errorf("device opened %d times, want a reopen after the unplug", s.Opens)
		}
	})
}
