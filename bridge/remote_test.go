package bridge_test

import (
	"testing"

	"github.com/snbridge/snbridge/bridge"
)

// startRemote starts a mosquitto and the paho upstream in mode in front
// of it, and returns the upstream and mosquitto's URL.
func startRemote(t *testing.T, mode string) (bridge.Upstream, string) {
	t.Fatalf("upstream mode %s: paho adapter not wired yet", mode)
	return nil, ""
}
