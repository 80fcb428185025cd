// Package spool is the durable store-and-forward queue of uplink messages
// that snbridge keeps while its upstream broker is unreachable.
//
// Messages are stored per MQTT-SN client, in publish order, in a bbolt
// database (a single file, crash-safe through copy-on-write B+trees and
// fsync on commit). An appended message is on disk, synced, before the
// Append callback runs: the gateway acknowledges a sensor's QoS 1/2 PUBLISH
// only then. A message is removed only when the replayer says the upstream
// acknowledged it.
//
// The spool is bounded by total bytes and by age. What counts against the
// byte bound is each entry's encoded record, its index record and bbolt's
// per-entry overhead, so the bound follows the space taken on disk (the
// file itself may be somewhat larger: bbolt keeps freed pages for reuse
// and never shrinks the file). At the byte bound the [Policy] decides:
// [Reject] refuses the new message with [ErrFull] (the sensor gets
// congestion and retries later), [DropOldest] discards the oldest messages
// of any client to make room, counting each drop. A full disk (or the
// optional cap on the file, Config.MaxFileBytes) is treated like a full
// spool: under Reject the message is refused with ErrFull; under
// DropOldest the oldest messages are discarded and the bound in force is
// lowered to 85% of what the spool held, so that bbolt keeps free pages for
// its copy-on-write writes, until the gateway restarts. A run of such
// refusals is logged once when it starts and once when it ends. Messages
// older than MaxAge are discarded at Open and then every ExpireEvery.
//
// What it does not do: it does not publish anything (the failover layer
// replays), keep QoS 2 state, or deduplicate.
//
// Concurrency: Append and Remove are asynchronous and safe for concurrent
// use; they are carried out by the goroutine of [Spool.Run], which groups
// every request waiting at that moment into one transaction and one fsync
// (group commit) and then calls each request's callback, in request order.
// Callbacks must not block. Read methods (Next, Clients, Len, Stats) may be
// called from any goroutine. Append encodes (copies) the message before it
// returns, so the caller may reuse its buffers; slices returned by Next
// are the caller's own.
//
// On-disk format: bucket "meta" holds the format tag ([FormatVersion]);
// bucket "order" maps an 8-octet big-endian sequence number to an index
// record (time, size, client id), giving the global age order; bucket
// "clients" holds one sub-bucket per client mapping the sequence number to
// the encoded message. A file with another format tag, another program's
// bbolt file, or one that bbolt cannot open, is reported by [Open] with
// what to do (package bridge/boltfile checks the tag); it is never
// silently discarded.
package spool
