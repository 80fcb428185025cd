package bridge_test

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

// env is one gateway in front of one kind of upstream, and the URL where
// the test's MQTT clients meet the gateway's sessions.
type env struct {
	mode string
	gw   *testGateway
	url  string
	up   bridge.Upstream
	mosq *bridgetest.Mosquitto // nil in standalone mode
}

// testModes are the upstream kinds every end-to-end test runs against:
// the embedded broker (standalone), and mosquitto through paho in
// transparent and aggregating modes.
var testModes = []string{"standalone", "transparent", "aggregating"}

// forModes runs f once per upstream kind, each in a subtest with a fresh
// broker and gateway; mod, if not nil, changes the gateway config.
func forModes(t *testing.T, mod func(*bridge.Config), f func(t *testing.T, e *env)) {
	forModeList(t, testModes, mod, f)
}

// forModeList is forModes over the given modes only.
func forModeList(t *testing.T, modes []string, mod func(*bridge.Config), f func(t *testing.T, e *env)) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			f(t, newEnv(t, mode, mod))
		})
	}
}

func newEnv(t *testing.T, mode string, mod func(*bridge.Config)) *env {
	t.Helper()
	e := &env{mode: mode}
	switch mode {
	case "standalone":
		b, url := startEmbedded(t)
		e.up, e.url = b, url
	default:
		e.up, e.mosq = startRemote(t, mode)
		e.url = e.mosq.URL()
	}
	e.gw = startGateway(t, e.up, mod)
	return e
}

// rawClient speaks MQTT-SN datagrams by hand, for what the client package
// would not send (malformed input, duplicates, odd MsgIds).
type rawClient struct {
	t    testing.TB
	conn transport.Conn
	gw   transport.Addr
	in   chan []byte
	buf  []byte
}

func newRaw(t testing.TB, gw transport.Addr) *rawClient {
	t.Helper()
	return newRawOn(t, listenUDP(t, ""), gw)
}

// newRawOn is newRaw on a transport of the caller's (closed at cleanup).
func newRawOn(t testing.TB, conn transport.Conn, gw transport.Addr) *rawClient {
	t.Helper()
	r := &rawClient{t: t, conn: conn, gw: gw, in: make(chan []byte, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 65536)
		for {
			n, _, err := r.conn.ReadFrom(b)
			if err != nil {
				return
			}
			select {
			case r.in <- append([]byte(nil), b[:n]...):
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = r.conn.Close(); <-done })
	return r
}

func (r *rawClient) sendBytes(b []byte) {
	r.t.Helper()
	if _, err := r.conn.WriteTo(b, r.gw); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r *rawClient) send(p mqttsn.Packet) {
	r.t.Helper()
	b, err := p.AppendBinary(r.buf[:0])
	if err != nil {
		r.t.Fatalf("encode %v: %v", p.Type, err)
	}
	r.buf = b
	r.sendBytes(b)
}

// recv waits for the next packet from the gateway.
func (r *rawClient) recv() mqttsn.Packet {
	r.t.Helper()
	select {
	case b := <-r.in:
		var p mqttsn.Packet
		if err := mqttsn.Parse(b, &p); err != nil {
			r.t.Fatalf("gateway sent an unparsable datagram % x: %v", b, err)
		}
		return p
	case <-time.After(waitTimeout):
		r.t.Fatal("no packet from the gateway")
	}
	return mqttsn.Packet{}
}

// expect waits for the next packet and checks its type.
func (r *rawClient) expect(t mqttsn.MsgType) mqttsn.Packet {
	r.t.Helper()
	p := r.recv()
	if p.Type != t {
		r.t.Fatalf("got %v %+v, want %v", p.Type, p, t)
	}
	return p
}

// nothing checks that no packet arrives within d.
func (r *rawClient) nothing(d time.Duration) {
	r.t.Helper()
	select {
	case b := <-r.in:
		r.t.Fatalf("unexpected datagram from the gateway: % x", b)
	default:
	}
	if d <= 0 {
		return
	}
	select {
	case b := <-r.in:
		r.t.Fatalf("unexpected datagram from the gateway: % x", b)
	case <-time.After(d):
	}
}

func (r *rawClient) connect(id string, clean bool, keepAlive uint16) {
	r.t.Helper()
	r.send(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
		Flags: mqttsn.Flags{CleanSession: clean}, ProtocolID: mqttsn.ProtocolID, Duration: keepAlive, ClientID: []byte(id),
	}})
	if rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode; rc != mqttsn.Accepted {
		r.t.Fatalf("CONNACK %v", rc)
	}
}

func (r *rawClient) register(name string, msgID uint16) uint16 {
	r.t.Helper()
	r.send(mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: msgID, TopicName: []byte(name)}})
	ra := r.expect(mqttsn.TypeRegack).Regack
	if ra.ReturnCode != mqttsn.Accepted || ra.MsgID != msgID {
		r.t.Fatalf("REGACK %+v", ra)
	}
	return ra.TopicID
}
