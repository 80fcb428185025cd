package bridge_test

import (
	"testing"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
)

// TestStandaloneEmbedded: with no upstream, an MQTT-SN client over UDP and
// a local MQTT client on the embedded broker's TCP listener exchange
// messages both ways.
func TestStandaloneEmbedded(t *testing.T) {
	b, url := startEmbedded(t)
	gw := startGateway(t, b, nil)
	ctx := ctxT(t)

	sub := bridgetest.Subscribe(t, url, "sensors/#", 1)
	sn, snMsgs := snClient(t, gw.Addr, client.Config{ClientID: "sensor-1", KeepAlive: 60e9, CleanSession: true})
	must(t, "connect", sn.Connect(ctx))

	id, err := sn.Register(ctx, "sensors/temp")
	must(t, "register", err)
	for _, qos := range []mqttsn.QoS{0, 1, 2} {
		payload := []byte{'t', byte('0' + qos)}
		must(t, "publish", sn.Publish(ctx, client.Registered(id), qos, false, payload))
		m := bridgetest.Recv(t, sub, waitTimeout)
		if m.Topic != "sensors/temp" || string(m.Payload) != string(payload) {
			t.Fatalf("MQTT subscriber got %q %q, want sensors/temp %q", m.Topic, m.Payload, payload)
		}
	}

	_, err = sn.Subscribe(ctx, client.FilterName("cmd/sensor-1"), 1)
	must(t, "subscribe", err)
	bridgetest.Publish(t, url, "cmd/sensor-1", []byte("reboot"), 1, false)
	m := recvSN(t, snMsgs)
	if m.Topic != "cmd/sensor-1" || string(m.Payload) != "reboot" {
		t.Fatalf("MQTT-SN client got %q %q, want cmd/sensor-1 reboot", m.Topic, m.Payload)
	}
	must(t, "disconnect", sn.Disconnect(ctx))
	if s := gw.Stats(); s.Malformed != 0 || s.UnknownClient != 0 {
		t.Errorf("stats %+v: want no malformed datagram and no unknown client", s)
	}
}
