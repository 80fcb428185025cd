// Package clienttest holds test helpers for the client tools.
//
// [StartGateway] runs the real snbridge gateway for end-to-end tests: it
// builds cmd/snbridge once per test binary, starts it on a free loopback
// UDP port against the upstream broker a test gives (a real mosquitto from
// bridge/bridgetest), waits until it answers CONNECT, and stops it
// (SIGTERM, then SIGKILL) when the test ends. It does not start the
// broker, so that it imports nothing of bridge/.
//
// [Air] (Linux) plays two XBee radios on pseudo-terminals and the air
// between them, so that a tool's --xbee option and the gateway's XBee
// transport exchange real API frames.
//
// Every process, goroutine and pseudo-terminal a helper starts is stopped
// and waited for in t.Cleanup.
package clienttest
