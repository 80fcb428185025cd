// Package boltfile opens the gateway's bbolt files (the uplink spool, the
// session store, the embedded broker's store) the one way they all need:
// with a lock timeout, and with a format tag that says which layout the
// file holds.
//
// [Open] opens (creating if needed) a file, waiting at most a second for
// another process's lock, and then checks the file's format tag: a new,
// empty file gets the tag of this build; a file with the same tag is
// returned open; anything else is an error that says what the file seems
// to be and what the operator can do (run the build that wrote it, or
// move the file away and lose what it holds). A file that bbolt cannot
// open is reported as damaged, a locked one as locked ([ErrLocked]).
// Nothing is ever discarded or rewritten to make a file fit.
//
// What it does not do: it knows nothing of the buckets and records below
// the tag (each file's package reads and writes those, and checks their
// contents), migrates no format, and keeps no database open itself: the
// caller owns the returned *bolt.DB and closes it. Its errors do not name
// the file: callers wrap them with their package and the path, e.g.
// "spool: open /var/lib/snbridge/spool.db: ...".
//
// Concurrency: Open has no shared state; it may be called from any
// goroutine. A [Format] is read only.
package boltfile
