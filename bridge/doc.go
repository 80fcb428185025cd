// Package bridge is the gateway of snbridge: it reads MQTT-SN datagrams
// from any number of transports, routes them to per-client sessions
// ([session.Session], the protocol rules of MQTT-SN 1.2 §6) and carries
// out what the sessions decide: packets back to the clients and
// operations on an [Upstream] (a remote broker through the paho adapter,
// or the embedded broker).
//
// # What it does
//
//   - Client routing. A client is keyed by the transport it talks on, its
//     [transport.Addr] on that transport and, for a client behind a
//     forwarder (Forwarder Encapsulation, MQTT-SN 1.2 §5.5), its Wireless
//     Node Id. Replies to an encapsulated client go back encapsulated, to
//     the same forwarder, with the same node id.
//   - Session lookup by ClientId: a CONNECT with a ClientId that already
//     has a session takes it over from wherever it was (the old address is
//     forgotten); a PINGREQ carrying a ClientId (a sleeping client waking
//     up, perhaps from a new address after NAT rebinding) does the same.
//   - Packets from an address without a session that need one get an
//     unsolicited DISCONNECT (MQTT-SN 1.2 §6.12). Exceptions: CONNECT
//     (opens a session), SEARCHGW (answered with GWINFO), PUBLISH QoS -1
//     (forwarded), PINGREQ with a known ClientId (moves the session),
//     ADVERTISE and GWINFO (other gateways and clients taking part in
//     discovery; ignored).
//   - PUBLISH QoS -1 (MQTT-SN 1.2 §6.8) from any address, connected or
//     not, with a predefined topic id or a short topic name, is published
//     at QoS 0 through an upstream session the gateway owns (client id
//     "snbridge-gw<GwId>"), opened on first use. A QoS -1 PUBLISH never
//     reaches a client's session.
//   - Discovery (MQTT-SN 1.2 §6.1): ADVERTISE on every transport with a
//     broadcast address, at start-up and then every AdvertiseInterval;
//     SEARCHGW is answered with GWINFO to the sender and, when the
//     transport it came in on has a broadcast address, broadcast there too.
//   - Predefined topic ids: a global table plus per-client entries
//     (MQTT-SN 1.2 §6.7), handed to each session and used for QoS -1.
//
// # Decisions where the spec is silent
//
//   - A CONNECT whose ClientId is outside 1..23 octets, or whose
//     ProtocolId is not 0x01, is answered with CONNACK 0x03 (not
//     supported) rather than dropped as malformed, so that the client
//     learns why (MQTT-SN 1.2 §5.3.1, §5.3.8).
//   - The gateway's own upstream client id is reserved: a CONNECT with it
//     gets CONNACK 0x03.
//   - An unknown address gets an unsolicited DISCONNECT for anything that
//     needs a session (§6.12), except a DISCONNECT, which is not answered:
//     two gateways pointed at each other would otherwise exchange
//     DISCONNECTs forever.
//   - When a client takes over an address that another session had (a
//     CONNECT or a PINGREQ with a ClientId from it), that other session
//     loses its address and is then supervised as usual: lost when its
//     keep-alive or sleep timer runs out, will included.
//   - QoS -1 PUBLISHes always go through the gateway's own upstream
//     session, also from connected clients (whose own predefined entries
//     then apply); an unknown predefined id is dropped and counted, as
//     QoS -1 has no answer.
//   - A will is published through the client's own upstream session,
//     which is closed only once the broker has acknowledged the will;
//     without one, through the gateway's session.
//   - SEARCHGW: GWINFO goes back to the sender and is broadcast on the
//     transport the SEARCHGW came in on (the network the searcher is on),
//     not on the others. A SEARCHGW through a forwarder gets one
//     encapsulated GWINFO with the SEARCHGW's radius, for the forwarder to
//     broadcast (§5.5).
//   - ADVERTISE is sent whether or not the upstream is reachable: the
//     embedded broker can always take the session (§6.1 "or is itself a
//     server").
//   - Sessions kept for CleanSession=false clients count towards
//     MaxClients.
//
// # State across restarts
//
// With Config.State (a [state.Store] in data_dir/state.db) the sessions
// that must survive a restart are kept on disk: persistent
// (CleanSession=false) sessions, and asleep or awake ones whatever their
// clean flag, with their buffers and last address. A Step that may have
// changed such a session's durable state ([session.Session.Changes])
// marks it dirty; every Config.StateFlush (default 100 ms) the dirty
// sessions are snapshotted and written in one transaction and one fsync,
// and once more when Run stops; a session that no longer needs keeping
// (a clean client woke into a clean CONNECT, a dropped session) is
// deleted. A session receiving messages fast is thus written at most once
// per interval, and the QoS 0 path of a non-persistent active client
// never touches the store. At start Run restores every stored session
// (see [session.Restore]): a sleeping client wakes with PINGREQ, from its
// old address or a new one, and gets its buffer; the upstream sessions
// are re-opened and their subscriptions re-made before the loop serves.
// Unless the upstream keeps persistent sessions itself ([SessionKeeper]:
// a remote broker in transparent mode), persistent clients' upstream
// sessions also stay open while the clients are away, so that messages
// for them wait in their saved sessions rather than in the embedded
// broker's memory.
//
// What a kill -9 can lose: changes of the last StateFlush interval plus
// one commit (messages buffered for a sleeping client then, a
// registration or subscription made then), and messages the upstream had
// handed over that the gateway had not yet taken from its queue. A
// graceful stop takes in what is queued before its last write; it loses
// only what the upstream hands over while it stops (a persistent broker
// session keeps such messages; the embedded broker's own queue does not
// survive).
//
// # What it does not do
//
// It does not implement the protocol rules of a client session (they are
// in package session), speak MQTT (the [Upstream] adapters do), parse
// configuration files or own the transports' configuration. It does not
// run the [Upstream]: the caller runs Upstream.Run beside Gateway.Run.
//
// # Concurrency
//
// [Gateway.Run] starts one reader goroutine per transport and runs one
// loop goroutine that owns all client state; no goroutine is started per
// packet or per client. A reader parses each datagram (a datagram that
// does not parse is counted, logged through a sampler and dropped) and
// hands it to the loop over a bounded channel; when the loop falls behind,
// readers block and the kernel's socket buffer absorbs (or drops) the
// excess.
//
// Upstream callbacks (completions and deliveries) only append to a queue
// under a mutex and wake the loop; they never block. Completions are never
// dropped: there is at most one per operation the loop issued, so their
// number is bounded by the operations in flight. Deliveries are dropped,
// counted (Stats.DeliveriesDropped) and logged when Config.EventQueue of
// them are already waiting. Session timers are kept in a heap ordered by
// each session's NextDeadline, served by a single timer.
//
// # Buffer ownership
//
// A datagram is read into the reader's scratch buffer, copied into a
// pooled inbound buffer and parsed there; the parsed packet aliases that
// buffer until the loop has handled it and returned it to the pool. A
// payload handed to the upstream (Message.Payload) is always a fresh copy;
// a message delivered by the upstream is owned by the gateway from then on
// and is only read. Transports do not keep the bytes passed to WriteTo, so
// the loop encodes every outgoing packet into one reused buffer.
//
// Run closes the transports when its context is cancelled.
package bridge
