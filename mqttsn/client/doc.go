// Package client is a small MQTT-SN v1.2 client over a [transport.Conn].
// It exists for the command-line tools (mqttsn-pub, mqttsn-sub,
// mqttsn-bench) and for end-to-end tests of the gateway; it is not meant
// to run on a sensor.
//
// It is the one package under mqttsn/ that does I/O: it writes datagrams
// through the Conn it is given and runs one reader goroutine on it. The
// codec itself (package mqttsn) stays pure.
//
// What it does: CONNECT with clean session, keep-alive and the will
// dialogue; REGISTER; PUBLISH at QoS -1 (without CONNECT), 0, 1 and 2 on
// registered, predefined and short topic ids; SUBSCRIBE and UNSUBSCRIBE
// by topic filter, predefined id or short name; PINGREQ (keep-alive and
// the wake-up of a sleeping client); DISCONNECT with and without a sleep
// duration; SEARCHGW/GWINFO. It answers a gateway's REGISTER with REGACK
// and remembers the topic, acknowledges incoming PUBLISH at QoS 1 and 2
// (delivering a QoS 2 message once per message id), and can wrap every
// message in Forwarder Encapsulation for a given Wireless Node Id.
// Retransmission by the rules of MQTT-SN 1.2 §6.13 is on when
// [Config.Retry] is non-zero (and, while a sleeping client is awake, Tretry
// restarts at every message, §6.14). For load generators, a QoS 0 Publish
// allocates nothing and [Client.PublishBatch] sends many QoS 0 messages in
// one write when the Conn is a [BatchWriter].
//
// What it does not do: reconnect, persist anything, choose between
// gateways, or send keep-alive pings on its own (run [Client.KeepAlive]
// for that).
//
// Concurrency: [Open] starts exactly one reader goroutine; [Client.Close]
// closes the Conn (the Client owns it) and waits for that goroutine. The
// request methods block until their answer arrives, the context ends, or
// the Client is closed; they are safe for concurrent use, each with its
// own message id. The callbacks in [Config] (OnMessage, OnRejected,
// OnDisconnect, Debug) run on the reader goroutine, in arrival order: they
// must return quickly and must not call request methods of the same
// Client, whose answers that goroutine would have to read.
//
// Buffers: the payload passed to Publish is not kept after Publish
// returns. A [Message] handed to OnMessage owns its Payload. The
// *mqttsn.Packet passed to Config.Debug is valid only during the call.
package client
