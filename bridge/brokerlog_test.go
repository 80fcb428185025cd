package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/mqttsn"
)

// waitLog waits until mosquitto's log contains want, polling until
// waitTimeout: the log reaches the test through a pipe, a little after
// the broker acted.
func waitLog(t *testing.T, m *bridgetest.Mosquitto, want string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(m.Logs(), want) {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("mosquitto log lacks %q after %v:\n%s", want, waitTimeout, m.Logs())
		}
	}
}

// TestTransparentBrokerSession: in transparent mode each MQTT-SN client
// is one MQTT session at the broker, as the broker itself reports it: the
// client id is the prefix plus the ClientId, the clean flag and keepalive
// (CONNECT Duration) carry over, and an MQTT-SN DISCONNECT closes the
// MQTT session.
func TestTransparentBrokerSession(t *testing.T) {
	mosq := bridgetest.StartMosquitto(t)
	up, err := paho.New(paho.Config{
		URL: mosq.URL(), Mode: paho.Transparent, ClientIDPrefix: "gw7-",
		Logger:      testLogger(t).Level(zerolog.InfoLevel),
		OpenTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, MaxReconnectInterval: time.Second,
	})
	must(t, "paho.New", err)
	runPart(t, "paho upstream", up.Run)
	gw := startGateway(t, up, nil)

	for _, tc := range []struct {
		id       string
		clean    bool
		duration uint16
		flags    string
	}{
		{"k90", false, 90, "(p2, c0, k90)"},
		{"k60", true, 60, "(p2, c1, k60)"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			r := newRaw(t, gw.Addr)
			r.connect(tc.id, tc.clean, tc.duration)
			// "New client connected from 127.0.0.1:PORT as gw7-k90 (p2, c0, k90)."
			waitLog(t, mosq, "as gw7-"+tc.id+" "+tc.flags)
			r.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect})
			r.expect(mqttsn.TypeDisconnect)
			// A DISCONNECT from the MQTT client, not a dropped connection.
			waitLog(t, mosq, "Client gw7-"+tc.id+" disconnected.")
		})
	}
}
