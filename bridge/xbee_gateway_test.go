package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/xbee"
)

// Gateway-level tests of the XBee transport: the gateway in front of a
// pty playing the dongle (fakeRadio in radio_test.go).

// tapTx makes r copy every Transmit Request the gateway's transport
// writes to the returned channel (a full channel drops copies).
func (r *fakeRadio) tapTx() <-chan xbee.TxRequest {
	ch := make(chan xbee.TxRequest, 256)
	r.mu.Lock()
	r.tx = ch
	r.mu.Unlock()
	return ch
}

// nextTx waits for the next Transmit Request whose RF data holds an
// MQTT-SN message of type typ (parsed into p), skipping others.
func nextTx(t testing.TB, ch <-chan xbee.TxRequest, typ mqttsn.MsgType, p *mqttsn.Packet) xbee.TxRequest {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case tx := <-ch:
			if mqttsn.Parse(tx.Data, p) == nil && p.Type == typ {
				return tx
			}
		case <-deadline:
			t.Fatalf("no Transmit Request carrying %v within %v", typ, waitTimeout)
		}
	}
}

// startXBeeWith is startXBee with a quick reopen after an unplug and the
// config changed by mod (if not nil).
func startXBeeWith(t testing.TB, r *fakeRadio, mod func(*xbee.Config)) *xbee.Conn {
	t.Helper()
	cfg := xbee.Config{
		Device: r.path(), Baud: 115200, APIMode: int(r.mode), Logger: testLogger(t),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := xbee.New(cfg)
	if err != nil {
		t.Fatalf("xbee.New: %v", err)
	}
	runPart(t, "xbee transport", func(ctx context.Context) error {
		if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("xbee transport not connected: %v", err)
	}
	return c
}

// writeTap is a transport whose failed writes are reported on failed, so
// that a test knows when the gateway tried to send through it.
type writeTap struct {
	transport.Conn
	failed chan error
}

func newWriteTap(c transport.Conn) *writeTap {
	return &writeTap{Conn: c, failed: make(chan error, 64)}
}

func (w *writeTap) WriteTo(b []byte, to transport.Addr) (int, error) {
	n, err := w.Conn.WriteTo(b, to)
	if err != nil {
		select {
		case w.failed <- err:
		default:
		}
	}
	return n, err
}

// TestRadioUnplugUDPCarriesOn: while the dongle is out (device gone), a
// UDP client publishes and receives as usual; QoS 1 messages for the
// radio client, one from the UDP client and one from the broker, are
// tried while it is out (the write fails) and arrive after the replug,
// in the same session.
func TestRadioUnplugUDPCarriesOn(t *testing.T) {
	var radio *fakeRadio
	var xc *xbee.Conn
	var tap *writeTap
	addRadio := func(c *bridge.Config) {
		radio = newFakeRadio(t, xbee.APIMode2)
		xc = startXBeeWith(t, radio, nil)
		tap = newWriteTap(xc)
		c.Transports = append(c.Transports, tap)
		c.Session.RetryInterval = time.Second // deliveries lost in the unplug are retried soon
	}
	forModes(t, addRadio, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		rc, rMsgs := snClientOn(t, radio.node(0x0013a20040a1b2c6, 0x2222), client.Config{
			Gateway: transport.XBeeAddr(0), ClientID: "radio-out-" + e.mode, KeepAlive: time.Minute, CleanSession: true,
			Retry: 300 * time.Millisecond, MaxRetries: 30,
		})
		uc, uMsgs := snClient(t, e.gw.Addr, client.Config{ClientID: "udp-on-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "radio connect", rc.Connect(ctx))
		must(t, "udp connect", uc.Connect(ctx))
		_, err := rc.Subscribe(ctx, client.FilterName("out/radio"), 1)
		must(t, "radio subscribe", err)
		_, err = uc.Subscribe(ctx, client.FilterName("out/udp"), 1)
		must(t, "udp subscribe", err)
		sub := bridgetest.Subscribe(t, e.url, "out/udp", 1)

		radio.unplug()
		if err := os.Remove(radio.path()); err != nil { // the device node is gone
			t.Fatal(err)
		}
		must(t, "wait for the unplug", xc.WaitDisconnected(ctx))

		// UDP is served as usual.
		uid, err := uc.Register(ctx, "out/udp")
		must(t, "udp register", err)
		must(t, "udp publish", uc.Publish(ctx, client.Registered(uid), 1, false, []byte("udp while radio out")))
		if m := recvSN(t, uMsgs); m.Topic != "out/udp" || string(m.Payload) != "udp while radio out" {
			t.Fatalf("UDP client got %q %q", m.Topic, m.Payload)
		}
		if m := bridgetest.Recv(t, sub, waitTimeout); m.Topic != "out/udp" || string(m.Payload) != "udp while radio out" {
			t.Fatalf("broker got %q %q", m.Topic, m.Payload)
		}

		// Messages for the radio client while it is out.
		rid, err := uc.Register(ctx, "out/radio")
		must(t, "udp register radio topic", err)
		must(t, "udp publish to radio", uc.Publish(ctx, client.Registered(rid), 1, false, []byte("from udp")))
		bridgetest.Publish(t, e.url, "out/radio", []byte("from broker"), 1, false)
		select {
		case err := <-tap.failed:
			if !errors.Is(err, xbee.ErrNotConnected) {
				t.Fatalf("radio write failed with %v, want ErrNotConnected", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the gateway did not try to send to the radio client while the dongle was out")
		}
		select {
		case m := <-rMsgs:
			t.Fatalf("radio client got %q while its dongle was out", m.Payload)
		default:
		}

		radio.plug()
		must(t, "wait for the replug", xc.WaitConnected(ctx))
		want := map[string]bool{"from udp": true, "from broker": true}
		for len(want) > 0 {
			m := recvSN(t, rMsgs) // QoS 1: a retransmission may come twice
			if m.Topic != "out/radio" {
				t.Fatalf("radio client got topic %q", m.Topic)
			}
			delete(want, string(m.Payload))
		}

		if s := e.gw.Stats(); s.SessionsOpened != 2 || s.Sessions != 2 || s.SendErrors == 0 {
			t.Errorf("gateway stats %+v: want the 2 sessions carried on, and the failed radio writes counted", s)
		}
		if s := xc.Stats(); s.Opens < 2 || s.TxNotConnected == 0 {
			t.Errorf("xbee opens %d, not-connected %d: want a reopen and refused writes", s.Opens, s.TxNotConnected)
		}
		must(t, "radio disconnect", rc.Disconnect(ctx))
	})
}

// TestRadioSearchGWBroadcast: a SEARCHGW from a radio node is answered
// with a GWINFO unicast to it and a GWINFO broadcast on the radio: a
// Transmit Request to 0x000000000000FFFF / 0xFFFE, which a bystander
// node receives too. [MQTT-SN 1.2 §6.1]
func TestRadioSearchGWBroadcast(t *testing.T) {
	var radio *fakeRadio
	var xc *xbee.Conn
	addRadio := func(c *bridge.Config) {
		radio = newFakeRadio(t, xbee.APIMode2)
		xc = startXBeeWith(t, radio, nil)
		c.Transports = append(c.Transports, xc)
	}
	forModeList(t, []string{"standalone"}, addRadio, func(t *testing.T, e *env) {
		txs := radio.tapTx()
		const seeker, bystander = 0x0013a20040a1b2d1, 0x0013a20040a1b2d2
		s := newRawOn(t, radio.node(seeker, 0x5a5a), transport.XBeeAddr(0))
		b := newRawOn(t, radio.node(bystander, 0x6b6b), transport.XBeeAddr(0))

		s.send(mqttsn.Packet{Type: mqttsn.TypeSearchGW, SearchGW: mqttsn.SearchGW{Radius: 1}})
		var p mqttsn.Packet
		gwinfo := []byte{0x03, byte(mqttsn.TypeGWInfo), 7}
		got := map[uint64]xbee.TxRequest{}
		for range 2 {
			tx := nextTx(t, txs, mqttsn.TypeGWInfo, &p)
			if !bytes.Equal(tx.Data, gwinfo) {
				t.Errorf("GWINFO to %016x: % x, want % x", tx.Dst64, tx.Data, gwinfo)
			}
			got[tx.Dst64] = tx
		}
		if tx, ok := got[seeker]; !ok || tx.Dst16 != 0x5a5a {
			t.Errorf("unicast GWINFO %+v (found %v), want to %016x / 5a5a", tx, ok, uint64(seeker))
		}
		if tx, ok := got[xbee.BroadcastEUI64]; !ok || tx.Dst16 != 0xFFFE {
			t.Errorf("broadcast GWINFO %+v (found %v), want to %016x / fffe", tx, ok, uint64(xbee.BroadcastEUI64))
		}
		// The seeker hears both, the bystander the broadcast only.
		for range 2 {
			if gi := s.expect(mqttsn.TypeGWInfo).GWInfo; gi.GwID != 7 || len(gi.GwAdd) != 0 {
				t.Errorf("seeker got GWINFO %+v, want GwId 7 without GwAdd", gi)
			}
		}
		if gi := b.expect(mqttsn.TypeGWInfo).GWInfo; gi.GwID != 7 {
			t.Errorf("bystander got GWINFO %+v, want GwId 7", gi)
		}
		b.nothing(0)
		if st := e.gw.Stats(); st.GWInfosSent != 2 {
			t.Errorf("GWInfosSent %d, want 2", st.GWInfosSent)
		}
		if st := xc.Stats(); st.PerDest[xc.BroadcastAddr()].Sent != 1 || st.PerDest[transport.XBeeAddr(seeker)].Sent != 1 {
			t.Errorf("xbee per destination %+v, want one frame to the broadcast address and one to the seeker", st.PerDest)
		}
	})
}

// TestRadioForwarder: a forwarder behind the radio transport relays a
// client's messages in Forwarder Encapsulation inside 0x90 Receive
// Packets; the client is served end to end (publish to the broker and a
// UDP client, delivery from the broker), and every reply goes back in
// 0x10 Transmit Requests to the forwarder, encapsulated for the same
// Wireless Node Id. [MQTT-SN 1.2 §5.5]
func TestRadioForwarder(t *testing.T) {
	var radio *fakeRadio
	addRadio := func(c *bridge.Config) {
		radio = newFakeRadio(t, xbee.APIMode2)
		c.Transports = append(c.Transports, startXBeeWith(t, radio, nil))
	}
	forModes(t, addRadio, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		txs := radio.tapTx()
		const forwarder = 0x0013a20040a1b2e1
		nodeID := []byte{0x00, 0x13, 0xa2, 0x00, 0x41, 0x5b, 0x7c, 0x02} // the sensor behind it
		sub := bridgetest.Subscribe(t, e.url, "rfwd/#", 1)
		fc, fMsgs := snClientOn(t, radio.node(forwarder, 0x7e7d), client.Config{
			Gateway: transport.XBeeAddr(0), ClientID: "rfwd-" + e.mode, KeepAlive: time.Minute, CleanSession: true,
			NodeID: nodeID, Radius: 1,
		})
		uc, uMsgs := snClient(t, e.gw.Addr, client.Config{ClientID: "rfwd-udp-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "forwarded connect", fc.Connect(ctx))
		must(t, "udp connect", uc.Connect(ctx))
		_, err := uc.Subscribe(ctx, client.FilterName("rfwd/up"), 1)
		must(t, "udp subscribe", err)

		id, err := fc.Register(ctx, "rfwd/up")
		must(t, "register", err)
		for qos := range 3 {
			payload := []byte{'q', byte('0' + qos), 0x7e, 0x7d}
			must(t, "publish", fc.Publish(ctx, client.Registered(id), mqttsnQoS(qos), false, payload))
			if m := bridgetest.Recv(t, sub, waitTimeout); m.Topic != "rfwd/up" || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("broker got %q % x, want rfwd/up % x", m.Topic, m.Payload, payload)
			}
			if m := recvSN(t, uMsgs); m.Topic != "rfwd/up" || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("UDP client got %q % x, want rfwd/up % x", m.Topic, m.Payload, payload)
			}
		}
		_, err = fc.Subscribe(ctx, client.FilterName("rfwd/down"), 1)
		must(t, "subscribe", err)
		bridgetest.Publish(t, e.url, "rfwd/down", []byte("to the node"), 1, false)
		if m := recvSN(t, fMsgs); m.Topic != "rfwd/down" || string(m.Payload) != "to the node" {
			t.Fatalf("forwarded client got %q %q", m.Topic, m.Payload)
		}
		must(t, "disconnect", fc.Disconnect(ctx))

		// Every frame the gateway sent the forwarder was encapsulated for
		// the node; CONNACK, REGACK, 3 publish acknowledgements (none for
		// QoS 0, PUBREC and PUBCOMP for QoS 2), SUBACK, PUBLISH and
		// DISCONNECT at least.
		n := 0
	drain:
		for {
			select {
			case tx := <-txs:
				if tx.Dst64 != forwarder {
					continue
				}
				n++
				var p mqttsn.Packet
				if err := mqttsn.Parse(tx.Data, &p); err != nil || p.Type != mqttsn.TypeEncapsulated || !bytes.Equal(p.Encapsulated.NodeID, nodeID) {
					t.Errorf("frame to the forwarder % x: type %v, err %v; want encapsulated for node % x", tx.Data, p.Type, err, nodeID)
				}
				if tx.Dst16 != 0x7e7d {
					t.Errorf("frame to the forwarder with 16-bit address %04x, want 7e7d", tx.Dst16)
				}
			default:
				break drain
			}
		}
		if n < 8 {
			t.Errorf("%d frames to the forwarder, want at least 8", n)
		}
		if s := e.gw.Stats(); s.EncapsulatedIn < 8 {
			t.Errorf("EncapsulatedIn %d, want at least 8", s.EncapsulatedIn)
		}
	})
}

// TestRadioForwarderSendTooLarge: the gateway's own size check. Behind a
// forwarder with a 32-octet Wireless Node Id on a radio whose RF payload
// is 40 bytes, the 35-byte encapsulation header leaves room for a CONNACK
// (38 bytes) and a PINGRESP (37) but not a REGACK (42): the REGACK is not
// sent, counted in Stats.SendTooLarge, and never reaches the transport.
func TestRadioForwarderSendTooLarge(t *testing.T) {
	var radio *fakeRadio
	var xc *xbee.Conn
	addRadio := func(c *bridge.Config) {
		radio = newFakeRadio(t, xbee.APIMode1)
		xc = startXBeeWith(t, radio, func(c *xbee.Config) { c.MaxPayload = 40 })
		c.Transports = append(c.Transports, xc)
	}
	forModeList(t, []string{"standalone"}, addRadio, func(t *testing.T, e *env) {
		txs := radio.tapTx()
		node := bytes.Repeat([]byte{0xa5}, 32)
		fw := newRawOn(t, radio.node(0x0013a20040a1b2f1, 0x0101), transport.XBeeAddr(0))
		wrap := func(p mqttsn.Packet) {
			inner, err := p.AppendBinary(nil)
			must(t, "encode", err)
			fw.send(mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: node, Message: inner}})
		}
		unwrap := func(want mqttsn.MsgType) {
			t.Helper()
			outer := fw.expect(mqttsn.TypeEncapsulated).Encapsulated
			var p mqttsn.Packet
			must(t, "parse inner", mqttsn.Parse(outer.Message, &p))
			if !bytes.Equal(outer.NodeID, node) || p.Type != want {
				t.Fatalf("got %v for node % x, want %v for node % x", p.Type, outer.NodeID, want, node)
			}
		}
		wrap(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
			Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: mqttsn.ProtocolID, Duration: 60, ClientID: []byte("long-node"),
		}})
		unwrap(mqttsn.TypeConnack)
		wrap(mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: 1, TopicName: []byte("big/t")}})
		wrap(mqttsn.Packet{Type: mqttsn.TypePingreq})
		// Handled in order: the PINGRESP comes after the REGISTER was
		// answered, and is the next thing the forwarder gets.
		unwrap(mqttsn.TypePingresp)
		fw.nothing(0)
		if s := e.gw.Stats(); s.SendTooLarge != 1 {
			t.Errorf("SendTooLarge %d, want 1 (the REGACK)", s.SendTooLarge)
		}
		if s := xc.Stats(); s.TxOversize != 0 || s.PerDest[transport.XBeeAddr(0x0013a20040a1b2f1)].Sent != 2 {
			t.Errorf("xbee TxOversize %d, per destination %+v; want 0 and 2 sent (CONNACK, PINGRESP): the gateway kept the REGACK back",
				s.TxOversize, s.PerDest)
		}
		for range 2 {
			var p mqttsn.Packet
			if tx := nextTx(t, txs, mqttsn.TypeEncapsulated, &p); len(tx.Data) > 40 {
				t.Errorf("RF data of %d bytes, over the 40-byte max_payload", len(tx.Data))
			}
		}
	})
}
