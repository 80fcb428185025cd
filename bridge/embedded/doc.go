// Package embedded is snbridge's in-process MQTT broker: a
// github.com/mochi-mqtt/server/v2 server that serves local MQTT clients on
// an optional TCP listener and implements [bridge.Upstream], so MQTT-SN
// clients' sessions can live on it (standalone mode, and the fallback when
// the remote broker is unreachable).
//
// Every MQTT-SN session is a set of subscriptions of mochi's inline client,
// one subscription id per session and filter; publishing goes through the
// inline client's Publish (retained messages are kept and handed to new
// subscribers with the retain flag set). A session opened with
// CleanSession=false survives [bridge.Session.Close] with discard=false:
// its subscriptions stay in place and QoS 1 and 2 messages for it are kept
// (bounded, oldest dropped and counted) until the same client id opens
// again with CleanSession=false.
//
// With Config.StorePath, mochi's bolt storage hook keeps retained
// messages and local MQTT clients' persistent sessions (subscriptions,
// in-flight messages) in that file across restarts; the file carries a
// format tag ([StoreFormat]) checked at [New] (package bridge/boltfile). Each write of the hook is
// its own fsynced transaction, so a retained message is on disk before
// the publish returns. The inline sessions of MQTT-SN clients are not
// stored here: the gateway keeps them (package bridge/state) and
// re-subscribes them after a restart. [Broker.Server] gives access to
// the mochi server for further hooks and a status topic.
//
// It does not authenticate: local MQTT clients are allowed everything
// (a hook like mochi's auth.AllowHook).
//
// Concurrency: one worker goroutine, started by [Broker.Run], executes all
// session operations in the order they were issued and calls every
// completion and every deliver callback; so completions are never
// concurrent, deliver is never concurrent with itself, and none of them runs
// on the caller's goroutine. Operations issued before Run are queued.
// Messages from the broker to sessions are queued without blocking mochi;
// when Config.MaxQueued messages wait, further ones are dropped and counted
// ([Broker.Dropped]). After Run has returned, operations fail with
// [ErrClosed], and that completion is called on the caller's goroutine.
//
// Buffers: a published [bridge.Message] payload is owned by the broker from
// the call on. A delivered payload may be shared by every session that
// receives the same message and by mochi's retained store: receivers must
// not modify it.
package embedded
