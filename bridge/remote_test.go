package bridge_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/paho"
)

// startRemote starts a mosquitto and the paho upstream in mode in front
// of it, and returns the upstream and the mosquitto.
func startRemote(t *testing.T, mode string) (bridge.Upstream, *bridgetest.Mosquitto) {
	t.Helper()
	m, err := paho.ParseMode(mode)
	if err != nil {
		t.Fatal(err)
	}
	mosq := bridgetest.StartMosquitto(t)
	up, err := paho.New(paho.Config{
		URL: mosq.URL(), Mode: m, Logger: testLogger(t).Level(zerolog.InfoLevel),
		OpenTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, MaxReconnectInterval: time.Second,
	})
	if err != nil {
		t.Fatalf("paho.New: %v", err)
	}
	runPart(t, "paho upstream", up.Run)
	return up, mosq
}
