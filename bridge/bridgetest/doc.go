// Package bridgetest holds test helpers for the upstream side of snbridge:
// a real mosquitto broker started per test ([StartMosquitto], or
// [StartMosquittoWith] for TLS listeners and password files, see
// [WriteTLSFiles] and [WritePasswordFile]) that a test can stop and start
// again on the same port, or pause and resume (a hanging broker, its
// connections open), a TCP proxy whose link a test can cut and
// restore without touching the broker ([StartProxy]), and a small
// paho.mqtt.golang test client
// ([Subscribe], [Publish], [Recv]). Subpackage upstreamtest drives a
// bridge.Upstream through its callbacks.
//
// It does not fake a broker: every helper talks to a real mosquitto process
// (Debian's /usr/sbin/mosquitto) or to any MQTT URL the caller passes, such
// as the embedded mochi broker's TCP listener.
//
// When mosquitto is not installed, [StartMosquitto] skips the test with an
// install hint, unless the environment variable CI is set, in which case the
// test fails.
//
// Concurrency: a [Mosquitto] may be stopped and restarted from the test
// goroutine while clients use it; its methods are safe for concurrent use.
// Channels returned by [Subscribe] are fed from paho's callback goroutines
// and are never closed; read them with [Recv]. Payloads in a [Message] are
// owned by the receiver.
//
// This package does not import package bridge, so bridge's internal tests
// can use it without an import cycle.
package bridgetest
