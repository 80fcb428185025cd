// Package paho connects snbridge to a remote MQTT broker through
// github.com/eclipse/paho.mqtt.golang and implements [bridge.Upstream].
//
// Two modes ([Mode]):
//
//   - Transparent (the default): every MQTT-SN client gets its own MQTT
//     connection, client id Config.ClientIDPrefix + ClientID, clean session
//     from the client's CONNECT, keepalive derived from the client's
//     (clamped to [MinKeepAlive, MaxKeepAlive], DefaultKeepAlive when the
//     client has none). paho pings on its own, so the upstream session
//     stays alive while the client sleeps. Credentials: ClientInfo's, else
//     Config.Credentials[ClientID], else the gateway's. A failed connection
//     fails Open (the gateway answers CONNACK congestion). Close with
//     discard on a CleanSession=false client connects once more with clean
//     session set, which makes the broker drop the stored session.
//   - Aggregating: all clients share one connection (client id
//     ClientIDPrefix + AggregatorClientID, clean session, the gateway's
//     credentials), kept up by [Upstream.Run] (nothing completes before
//     Run is called). Subscriptions are counted
//     per filter: the first session subscribes upstream, the last one to
//     leave unsubscribes, and a higher QoS asked for later upgrades the
//     upstream subscription (it is not downgraded while it stays). Each
//     session is granted min(asked, upstream grant). An incoming message
//     goes once to every session with a matching filter, at most at that
//     session's QoS. Open completes at once while the shared connection is
//     up, otherwise when it comes up, or fails with [ErrUpstreamDown] after
//     Config.OpenTimeout. The broker has no per-client session, so the
//     adapter keeps persistent ones itself, as an MQTT broker would
//     [MQTT 3.1.1 §3.1.2.4]: Close without discard of a CleanSession=false
//     client keeps its subscriptions (and their references, so the shared
//     upstream subscriptions stay) and its QoS 1 and 2 messages, at most
//     Config.MaxPending (DefaultMaxPending), the oldest dropped and counted
//     ([Upstream.Dropped]); QoS 0 messages are not kept. The next Open of
//     that client id resumes the session and gets the kept messages in
//     order, after its completion and before any live message. An Open
//     with CleanSession=true, or Close with discard, discards the session.
//     An Open of a client id whose handle is still open takes it over: the
//     old handle is closed. A session whose client never comes back costs
//     its subscriptions and at most MaxPending messages until one of these
//     discards it or Run stops. The shared connection itself is clean:
//     messages published while it is down are lost (see Reconnects).
//
// Reconnects: a clean connection (a transparent CleanSession=true session,
// and the aggregating shared connection, which is always clean) is not
// reconnected by paho: paho's reconnect keeps the lost connection's QoS 1
// and 2 messages and resends them, or their PUBREL, to a broker that kept
// no session for them; the broker answers PUBCOMP to an unknown PUBREL, so
// a message that never reached anyone was reported delivered. Instead,
// when a clean connection is lost, paho fails every outstanding token, and
// every QoS 1 and 2 publish in flight, issued while it is down, or pushed
// before the completer has reported those failures, completes with
// [ErrConnectionLost]: the broker may not have it and nothing sends it
// again; the caller owns the retry (the failover spools and replays it,
// the gateway answers congestion and the sensor retries). Only then is the
// connection made again (the session's own loop, or Run's in aggregating
// mode: at once, then with back-off doubling from 1 s up to
// Config.MaxReconnectInterval), so a publish that completes without error
// was acknowledged by the broker on its own connection, and no publish of
// a session overtakes one that failed before it. A message whose PUBLISH
// (QoS 1) or PUBREL (QoS 2) reached the broker just before the link broke
// fails too and arrives twice when retried: exactly once for QoS 2 across
// a lost clean connection is not possible [MQTT 3.1.1 §4.3.3]. QoS 0
// publishes issued while it is down fail the same way.
//
// A persistent transparent session (CleanSession=false) is reconnected by
// paho (back-off 1 s doubling up to Config.MaxReconnectInterval), but its
// publishes fail the same way: paho would resend its in-flight messages
// from its in-memory store on the reconnect and complete their tokens at
// the resend, before any acknowledgement, in no particular order, and a
// restarted broker without persistence has lost the session (a resent
// PUBREL is acknowledged for a message never released), which paho cannot
// tell (it does not show the CONNACK's session-present flag on a
// reconnect). So its store is emptied before each reconnect attempt,
// publishes in flight at a loss or issued while it is not connected fail
// with [ErrConnectionLost], and the caller retries them. The broker-side
// session (subscriptions, messages queued for the client) is kept as MQTT
// provides. A QoS 2 message in flight at the loss may then be released
// twice, as on a clean connection; a lost message id stays taken in paho
// until the session is closed (at most the publishes in flight per loss).
//
// After any reconnect every subscription is made again, by the completer
// in order with the session's own operations, because paho does not show
// the CONNACK's session-present flag; the broker then re-sends retained
// messages (in aggregating mode they are not passed on: nobody new asked
// for them). A subscribe issued while a clean connection is down fails.
//
// TLS: tls:// (also ssl://, mqtts://) with Config.CAFile (else the system
// roots), an optional client certificate, and the server name checked
// against Config.ServerName or the URL's host.
//
// Concurrency: no method waits for the network, and paho is never called
// with a lock held that its router goroutine needs. Each session (transparent)
// or the shared connection (aggregating) has one completer goroutine that
// issues the operations to paho in order (paho's Publish can block on a
// full connection) and calls their completions in issue order as paho's
// tokens finish; QoS 0 publishes complete once handed to paho (or written
// to the connection's buffer, see Writes). Messages
// are handed to deliver on paho's router goroutine of the connection
// (SetOrderMatters(true): our handler only hands the message on, so
// nothing blocks, the broker's order is kept and paho starts no goroutine
// per message, which SetOrderMatters(false) would). In aggregating mode the
// messages kept for a resumed session are handed over on the completer,
// right after the Open's completion; a lock per session orders them before
// the live ones and keeps deliver from being called concurrently for a
// session (deliver must not block). Every goroutine we start
// is waited for by Run. paho's own reconnect loop may outlive Run by up to
// one back-off step (it sleeps without a way to stop it).
//
// Writes: every connection paho opens (tcp and tls) is wrapped so that
// packets written in quick succession leave in one write(2) (and one TLS
// record): one flusher goroutine per connection writes out what
// accumulated, with no timer, in a buffer bounded at 256 KiB (beyond it
// paho's writer waits). QoS 0 publishes are encoded straight into that
// buffer, skipping paho's tokens and writer goroutine, whenever the
// latest packet handed to paho is already written (so nothing is
// overtaken); otherwise, and before the connection is up, they go
// through paho. A QoS 0 publish completes once in that buffer, as it did
// once handed to paho: the bytes of a connection that breaks are lost.
//
// Buffers: a published payload must not be modified until its completion;
// a delivered payload is the receiver's (paho allocates one per message;
// in aggregating mode sessions receiving the same message share it and
// must not modify it).
//
// Logging: paho's own package-level loggers are process-wide; main routes
// them with [SetLogger].
package paho
