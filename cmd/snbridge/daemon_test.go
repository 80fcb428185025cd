package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport/udp"
)

// TestCheckEmbeddedDefault: --check without -c validates the embedded
// default.
func TestCheckEmbeddedDefault(t *testing.T) {
	out, errOut, code := runBinary(t, "--check")
	if code != 0 || !strings.Contains(out, "embedded default: configuration valid") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and \"embedded default: configuration valid\"", code, out, errOut)
	}
}

// freeUDP6 returns a [::1] UDP address that was free a moment ago.
func freeUDP6(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// snPublish connects an MQTT-SN client from a socket on local (host:0)
// to the gateway at snAddr as id and publishes payload on topic at
// QoS 1. It returns the CONNECT or PUBLISH error.
func snPublish(t *testing.T, local, snAddr, id, topic, payload string) error {
	t.Helper()
	conn, err := udp.Listen(udp.Config{Listen: local})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := netipAddr(snAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := client.Open(conn, client.Config{Gateway: gw, ClientID: id, KeepAlive: time.Minute, CleanSession: true, Retry: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("connect %s: %w", id, err)
	}
	tid, err := c.Register(ctx, topic)
	if err != nil {
		return fmt.Errorf("register %s: %w", topic, err)
	}
	if err := c.Publish(ctx, client.Registered(tid), mqttsn.QoS1, false, []byte(payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return c.Disconnect(ctx)
}

func expectMessage(t *testing.T, sub <-chan bridgetest.Message, topic, payload string) {
	t.Helper()
	if m := bridgetest.Recv(t, sub, 15*time.Second); m.Topic != topic || string(m.Payload) != payload {
		t.Fatalf("subscriber got %q %q, want %q %q", m.Topic, m.Payload, topic, payload)
	}
}

// TestRunTwoUDPListeners: two [[transport.udp]] listeners, IPv4 and
// IPv6 loopback, with recv_buffer; a publish through each reaches the
// MQTT side.
func TestRunTwoUDPListeners(t *testing.T) {
	v4, v6, mqttAddr := freeAddr(t, "udp"), freeUDP6(t), freeAddr(t, "tcp")
	cfg := fmt.Sprintf(`[[transport.udp]]
listen = %q
recv_buffer = "256KiB"

[[transport.udp]]
listen = %q
recv_buffer = 131072

[broker]
listen = %q

[log]
format = "json"
`, v4, v6, mqttAddr)
	d := startDaemon(t, cfg)
	if logs := d.logs.String(); !strings.Contains(logs, `"transports":2`) {
		t.Fatalf("not two transports:\n%s", logs)
	}
	sub := bridgetest.Subscribe(t, "tcp://"+mqttAddr, "site/#", 1)
	must(t, "publish over IPv4", snPublish(t, "127.0.0.1:0", v4, "sensor-v4", "site/v4", "four"))
	expectMessage(t, sub, "site/v4", "four")
	must(t, "publish over IPv6", snPublish(t, "[::1]:0", v6, "sensor-v6", "site/v6", "six"))
	expectMessage(t, sub, "site/v6", "six")
	d.stop(t)
	if logs := d.logs.String(); !strings.Contains(logs, `"message":"UDP transport stats"`) || !strings.Contains(logs, `"addr":"[::1]:`) {
		t.Errorf("no UDP transport stats at shutdown:\n%s", logs)
	}
}

// TestRunUpstreamCredentials: [[upstream.credentials]] against a
// mosquitto that denies anonymous clients: the gateway has no username,
// sensor-17 has its own credentials and gets through; sensor-8 has none
// and is refused.
func TestRunUpstreamCredentials(t *testing.T) {
	pw := bridgetest.WritePasswordFile(t, map[string]string{"s17": "pw17", "reader": "rpw"})
	mosq := bridgetest.StartMosquittoWith(t, bridgetest.Options{Extra: "password_file " + pw, DenyAnonymous: true})
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	upstream := fmt.Sprintf("url = %q\n\n[[upstream.credentials]]\nclient_id = \"sensor-17\"\nusername = \"s17\"\npassword = \"pw17\"", mosq.URL())
	d := startDaemon(t, fmt.Sprintf(daemonConfig, "transparent", snAddr, mqttAddr, upstream))
	reader := bridgetest.Connect(t, mosq.URL(), func(o *mqtt.ClientOptions) { o.SetUsername("reader").SetPassword("rpw") })
	sub := bridgetest.SubscribeClient(t, reader, "site/#", 1)

	must(t, "sensor-17", snPublish(t, "127.0.0.1:0", snAddr, "sensor-17", "site/s17", "ok"))
	expectMessage(t, sub, "site/s17", "ok")
	if err := snPublish(t, "127.0.0.1:0", snAddr, "sensor-8", "site/s8", "no"); err == nil {
		t.Fatal("sensor-8 without credentials got through a broker that denies anonymous clients")
	}
	select {
	case m := <-sub:
		t.Fatalf("unexpected message %q %q", m.Topic, m.Payload)
	default:
	}
	d.stop(t)
}

// TestAggregatingTwoGateways: two gateways with different ids in
// aggregating mode on one mosquitto keep their own shared connection
// (client ids snbridge-gw<id>-aggregator) and both deliver; neither takes
// the other's connection.
func TestAggregatingTwoGateways(t *testing.T) {
	mosq := bridgetest.StartMosquitto(t)
	sub := bridgetest.Subscribe(t, mosq.URL(), "site/#", 1)
	conf := func(id int, snAddr, mqttAddr string) string {
		return strings.Replace(fmt.Sprintf(daemonConfig, "aggregating", snAddr, mqttAddr, fmt.Sprintf("url = %q", mosq.URL())),
			"id = 9", fmt.Sprintf("id = %d", id), 1)
	}
	sn1, sn2 := freeAddr(t, "udp"), freeAddr(t, "udp")
	d1 := startDaemon(t, conf(1, sn1, freeAddr(t, "tcp")))
	must(t, "via gateway 1", snPublish(t, "127.0.0.1:0", sn1, "sensor-a", "site/a", "1"))
	expectMessage(t, sub, "site/a", "1")
	d2 := startDaemon(t, conf(2, sn2, freeAddr(t, "tcp")))
	must(t, "via gateway 2", snPublish(t, "127.0.0.1:0", sn2, "sensor-b", "site/b", "2"))
	expectMessage(t, sub, "site/b", "2")
	must(t, "via gateway 1 again", snPublish(t, "127.0.0.1:0", sn1, "sensor-a", "site/a", "3"))
	expectMessage(t, sub, "site/a", "3")
	d1.stop(t)
	d2.stop(t)
	logs := mosq.Logs()
	for _, id := range []string{"snbridge-gw1-aggregator", "snbridge-gw2-aggregator"} {
		if !strings.Contains(logs, " as "+id) {
			t.Errorf("mosquitto saw no connection as %s:\n%s", id, logs)
		}
	}
	if strings.Contains(logs, "already connected") {
		t.Errorf("a gateway took another's connection:\n%s", logs)
	}
}
