// Package state is the gateway's durable session store: the snapshots
// ([session.Snapshot]) of the MQTT-SN sessions that must survive a
// restart of snbridge, graceful or kill -9: sessions with
// CleanSession=false (client id, subscriptions, registrations, will,
// queued messages) and sleeping clients' sessions with their buffers,
// whatever their clean flag.
//
// The store is one bbolt file (data_dir/state.db): crash-safe through
// copy-on-write B+trees and an fsync on every commit, so a commit is
// either wholly on disk or not at all, and a kill -9 never leaves a
// half-written record.
//
// What it does not do: it does not decide what to save or when (the
// gateway marks sessions whose durable state changed and flushes them at
// a short interval, see package bridge), and it does not keep the
// embedded broker's state (its own file, through mochi's storage hook)
// or the uplink spool (package spool).
//
// Concurrency: [Store.Commit] is asynchronous and safe for concurrent use;
// the goroutine of [Store.Run] groups every batch waiting at that moment
// into one transaction and one fsync (group commit), then calls each
// batch's callback in order. Callbacks must not block. [Store.Records] is
// read-only data loaded by [Open]. Records passed to Commit are owned by
// the store from then on (encoded on the writer goroutine).
//
// On-disk format: bucket "meta" holds the format tag ([FormatVersion]);
// bucket "sessions" maps a client id to its [Record] as JSON. A file with
// another format tag, one that bbolt cannot open (both checked through
// package bridge/boltfile), or a record that does not decode is reported
// by [Open] with the file's path and what to do; nothing is discarded or
// half-loaded.
package state
