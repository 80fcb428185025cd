package bridge

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// nopUpstream accepts everything at once and delivers nothing.
type nopUpstream struct{}

func (nopUpstream) Open(_ ClientInfo, _ func(Message), done func(Session, error)) {
	done(nopSession{}, nil)
}
func (nopUpstream) Run(ctx context.Context) error { <-ctx.Done(); return nil }

type nopSession struct{}

func (nopSession) Publish(_ Message, done func(error))                  { done(nil) }
func (nopSession) Subscribe(_ string, qos byte, done func(byte, error)) { done(qos, nil) }
func (nopSession) Unsubscribe(_ string, done func(error))               { done(nil) }
func (nopSession) Close(_ bool, done func())                            { done() }

// FuzzGatewayDatagrams feeds arbitrary datagrams, from three addresses
// and wrapped or not in Forwarder Encapsulation, into a running gateway
// and checks that it never panics and still serves a healthy client. The
// input is a sequence of records: 1 octet sender (0-2, bit 7 = wrap), 2
// octets length, datagram.
func FuzzGatewayDatagrams(f *testing.F) {
	seed := func(recs ...[]byte) []byte {
		var b []byte
		for i, r := range recs {
			b = append(b, byte(i%3))
			b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
			b = append(b, r...)
		}
		return b
	}
	connect := []byte{0x08, 0x04, 0x04, 0x01, 0x00, 0x3c, 'f', 'z'}
	f.Add(seed(connect, []byte{0x0c, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 'a', '/', 'b'}))
	f.Add(seed(connect, []byte{0x07, 0x0c, 0x62, 0x00, 0x01, 0x00, 0x00}, []byte{0x02, 0x18}))
	f.Add(seed([]byte{0x01, 0x04}, []byte{}, []byte{0x03, 0x01, 0x00}, []byte{0x02, 0x16}))
	f.Add(seed([]byte{0x0c, 0x12, 0x00, 0x01, 'a', '/', '#'}, connect, []byte{0x04, 0x18, 0x00, 0x05}))
	f.Fuzz(func(t *testing.T, in []byte) {
		net := transporttest.New(transporttest.Config{QueueLen: 1024})
		gwAddr := transport.UDPAddr(netip.MustParseAddrPort("10.0.0.1:1884"))
		g, err := New(Config{Transports: []transport.Conn{net.MustListen(gwAddr)}, Upstream: nopUpstream{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		defer func() { cancel(); <-done }()

		var senders [3]*transporttest.Conn
		for i := range senders {
			senders[i] = net.MustListen(transport.UDPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(2 + i)}), 5000)))
		}
		for len(in) >= 3 {
			who, n := in[0], int(binary.BigEndian.Uint16(in[1:3]))
			in = in[3:]
			n = min(n, len(in))
			d := in[:n]
			in = in[n:]
			if who&0x80 != 0 {
				// Length 4 covers Length, MsgType, Ctrl and a 1-octet node id.
				d = append([]byte{4, 0xfe, 0x00, who & 0x7f}, d...)
			}
			_, _ = senders[int(who&0x7f)%3].WriteTo(d, gwAddr)
		}

		// A healthy client is still served.
		healthy := net.MustListen(transport.UDPAddr(netip.MustParseAddrPort("10.0.0.9:5000")))
		p := mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
			Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: 1, Duration: 60, ClientID: []byte("healthy"),
		}}
		b, _ := p.AppendBinary(nil)
		if _, err := healthy.WriteTo(b, gwAddr); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		got := make(chan error, 1)
		go func() {
			n, _, err := healthy.ReadFrom(buf)
			if err == nil {
				var r mqttsn.Packet
				err = mqttsn.Parse(buf[:n], &r)
				if err == nil && (r.Type != mqttsn.TypeConnack || r.Connack.ReturnCode != mqttsn.Accepted) {
					t.Errorf("healthy client got %v %+v", r.Type, r.Connack)
				}
			}
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			healthy.Close()
			<-got
			t.Fatal("gateway no longer answers a healthy client")
		}
	})
}
