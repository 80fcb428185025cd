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
// Reconnects: paho reconnects with back-off (1 s doubling up to
// Config.MaxReconnectInterval). After a reconnect every subscription is made
// again, by the completer in order with the session's own operations,
// because paho does not show the CONNACK's session-present flag and a
// restarted broker may have lost the session; the broker then re-sends
// retained messages (in aggregating mode they are not passed on: nobody
// new asked for them). QoS 1 and 2 publishes issued while reconnecting are
// sent when the connection is back (paho's in-memory store) and complete
// then; so do those that paho failed writing to a connection that had just
// gone (paho fails their token but keeps them in its store and sends them
// again); QoS 0 ones are dropped by paho and reported as done.
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
// tokens finish; QoS 0 publishes complete once handed to paho. Messages
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
// Buffers: a published payload must not be modified until its completion;
// a delivered payload is the receiver's (paho allocates one per message;
// in aggregating mode sessions receiving the same message share it and
// must not modify it).
//
// Logging: paho's own package-level loggers are process-wide; main routes
// them with [SetLogger].
package paho
