package bridge_test

import (
	"testing"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// TestDeliveryTooLargeEndToEnd: a client on a transport with a small
// MaxPayload (as a ZigBee radio's 84 bytes) subscribes; a broker message
// whose PUBLISH would not fit is not delivered and is counted in
// Stats.DeliveriesTooLarge, and the small message published after it
// arrives. The real embedded broker is the upstream. [MQTT-SN 1.2 §6.10]
func TestDeliveryTooLargeEndToEnd(t *testing.T) {
	const maxPayload = 84
	b, url := startEmbedded(t)
	net := transporttest.New(transporttest.Config{MaxPayload: maxPayload})
	g, err := bridge.New(bridge.Config{
		Transports: []transport.Conn{net.MustListen(memGW)}, Upstream: b, Logger: testLogger(t),
	})
	must(t, "New", err)
	runPart(t, "gateway", g.Run)

	c := newRawOn(t, net.MustListen(memAddr(1)), memGW)
	c.connect("radio-big", true, 60)
	c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("radio/t")}})
	c.expect(mqttsn.TypeSuback)
	pub := bridgetest.Connect(t, url, nil) // one connection keeps the order
	bridgetest.PublishClient(t, pub, "radio/t", make([]byte, maxPayload), 1, false)
	bridgetest.PublishClient(t, pub, "radio/t", []byte("fits"), 1, false)
	p := c.expect(mqttsn.TypePublish).Publish
	if string(p.Data) != "fits" {
		t.Fatalf("PUBLISH %d bytes, want the small message", len(p.Data))
	}
	c.send(mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: p.TopicID, MsgID: p.MsgID}})
	if s := g.Stats(); s.DeliveriesTooLarge != 1 || s.SendTooLarge != 0 {
		t.Fatalf("DeliveriesTooLarge %d SendTooLarge %d, want 1 and 0", s.DeliveriesTooLarge, s.SendTooLarge)
	}
}
