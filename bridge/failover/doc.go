// Package failover keeps an MQTT-SN site working while its upstream broker
// is unreachable: a [Failover] is a [bridge.Upstream] over a primary
// upstream (the remote broker, bridge/paho) and a fallback one (the
// embedded broker, bridge/embedded). Uplink messages are kept in a
// durable spool (bridge/spool) while the primary is down and replayed, in
// order per client, when it returns.
//
// # Health
//
// A [Health] monitor says whether the primary is reachable; [Probe] is one
// over an MQTT connection of its own (clean session, keepalive), whose
// connects and losses are the up and down reports. The controller
// goroutine of [Failover.Run] follows them. A primary operation that fails
// (bridge/paho fails a clean session's publishes in flight at once when
// its connection is lost, [paho.ErrConnectionLost]) or does not complete
// within Config.OpTimeout (a persistent session's paho tokens wait through
// a reconnect) is handled per message too: an uplink publish is then
// spooled, and that one session falls back (a broker may drop one
// connection while the probe's stays up); it moves back at the next
// retry.
//
// # Sessions
//
// Each Open gives a virtual session that outlives the switches; the
// MQTT-SN client notices nothing (topic ids, subscriptions and sleep
// buffers live in the gateway). Every virtual session has a session on
// the fallback, opened first, and, while the primary is up, one on the
// primary, opened with the client's clean-session flag so that the broker
// hands over what it kept for a persistent session during the outage.
// Subscriptions are recorded and live on the active side only. On
// "down" a session moves at once: its primary session is closed (keeping
// broker-side state) and the recorded subscriptions are made on the
// fallback. On "up" the primary session is opened, the subscriptions made
// there, and only then dropped on the fallback; during that overlap a
// message can come from both brokers only if the two brokers are bridged,
// and retained messages come again (as after any SUBSCRIBE,
// [MQTT 3.1.1 §3.8.4]). A client that connects during an outage gets its
// session on the fallback at once, without congestion; only a full spool
// gives congestion. A session whose primary open fails stays on the
// fallback and is tried again every Config.RetryInterval. A
// CleanSession=false client's unsubscriptions made on the fallback are
// carried out on its primary session before it moves back.
//
// At most one primary session per client id is open at a time: a new
// one (moving back, a reopened client, the replay session) waits until
// the previous one has closed, since paho reconnects a closing session
// during its close grace and two connections with one client id take it
// from each other at the broker.
//
// # Uplink and spool
//
// While the primary is down, every QoS 1 and 2 PUBLISH (QoS 0 and -1 too
// with Config.SpoolQoS0) is appended to the spool and its completion runs
// after the spool's fsync, so the gateway's PUBACK/PUBREC follows the
// sync. A full spool ([spool.ErrFull], policy "reject") completes the
// publish with that error: the sensor gets congestion. With
// "drop-oldest" the spool makes room itself (counted in spool.Stats).
// Every message is also published on the fallback broker so that MQTT-SN
// subscribers and local MQTT clients receive it during the outage.
//
// # Replay
//
// While the primary is up the controller replays the spool round-robin
// over clients, one message per client per turn, at most
// Config.ReplayRate messages per second overall and Config.ReplayWindow
// unacknowledged messages per client, through the client's own primary
// session (or, for a client that is not connected, a gateway-owned
// replay session, Config.ReplayClientID, with the gateway's
// credentials). A spooled message is removed only after the broker
// acknowledged it (QoS 1: PUBACK, QoS 2: PUBCOMP). While a client has a
// backlog (spooled, being appended or being replayed) its new messages are
// appended to the spool too, so per-client order holds across the
// outage, the replay and a restart. Other clients' live traffic is not
// held up. A spool that is not empty at start-up (a restart, also after
// kill -9) is replayed once the primary is up. QoS 1 replays of a client
// are pipelined; a QoS 2 one goes alone, because a broker hands a QoS 2
// message on at PUBREL, after QoS 0/1 messages sent later. A replay that
// fails stops that client's replay; it starts again from its oldest
// spooled message after Config.RetryInterval. The messages of a client
// that is connected but whose session cannot move to the primary (its
// open is refused) wait in the spool: they are not replayed under the
// gateway's credentials.
//
// Guarantees and their limits:
//   - Nothing acknowledged to a sensor is lost by an outage, a flapping
//     link or a restart, within the spool's bounds (spool_max_bytes,
//     spool_max_age, overflow policy).
//   - QoS 1 messages arrive at least once, in per-client order. A
//     message whose primary publish was in flight when the link broke is
//     spooled and replayed: if the broker had received it, it arrives
//     twice. bridge/paho does not let a later publish of a clean session
//     succeed on the next connection before the failure of an earlier one
//     was reported (which spools it and moves the session off), so the
//     replay keeps the order; a later publish that times out
//     (Config.OpTimeout) while an earlier one still succeeds can overtake
//     it only on a persistent session.
//   - QoS 2 messages arrive exactly once, except in these windows: a
//     message in flight on the primary when the link broke (the broker
//     may have it: mosquitto hands it on at PUBREL, and a clean session's
//     PUBCOMP lost with the link cannot be asked for again; a replay is a
//     new PUBLISH with a new packet id; TestFlappingLinkCut sees this for
//     a few of its cuts, at most one message per cut and client), and a
//     replayed message acknowledged by the broker but not yet removed from
//     the spool when the gateway is killed. Each gives one duplicate at
//     most.
//   - QoS 0 messages are best effort: without SpoolQoS0 those sent during
//     an outage reach only the fallback broker's subscribers.
//   - An MQTT-SN subscriber of a sensor's topic may get a message twice:
//     through the fallback during the outage, and from the primary when it
//     is replayed.
//
// # Status
//
// The uplink state, "down", "replaying" (up, spool not empty) or "up", is
// logged (warn on down, info otherwise) and published retained at QoS 1
// on Config.StatusTopic through Config.Status (mochi's server, which may
// publish on $SYS) or a session of the fallback.
//
// # Ownership
//
// [Failover.Run] runs the spool's Run (nobody else may), the health
// monitor, the controller and, with Config.RunPrimary, the primary's Run;
// the embedded broker's Run is its caller's. The caller opens the spool
// and closes it after Run returned. [Failover.Stats] and the spool's
// Stats give the counters (spooled, rejected, dropped, replayed).
//
// What it does not do: it does not persist gateway sessions or the
// embedded broker's state, deduplicate, or bridge the two brokers.
//
// Concurrency: the methods of [Failover] and of its sessions are safe for
// concurrent use and never block on the network; completions are called
// exactly once, from other goroutines, in issue order per session
// (a per-session completer reorders them), and deliver is never called
// concurrently for one session (deliveries of both sides are serialized).
// One controller goroutine switches sessions and replays. Appends to the
// spool are ordered by a mutex taken before the state lock, so that a
// message routed later is spooled later. Payloads handed to Publish are
// shared with the spool (which copies) and the fallback broker; neither
// modifies them.
package failover
