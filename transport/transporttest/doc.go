// Package transporttest is an in-memory datagram network for tests: a
// [Network] routes datagrams between endpoints ([Conn], a
// [transport.Conn]) by [transport.Addr], with an optional broadcast
// address, a configurable maximum payload, bounded per-endpoint queues and
// a hook that loses chosen datagrams. It behaves like UDP: a datagram to an
// unknown address, to a full queue or lost by the hook is dropped without
// an error, and counted in [Stats].
//
// It uses channels only: no sockets, no timers, no goroutines. Created
// inside a testing/synctest bubble, a reader blocked in ReadFrom is
// durably blocked, so synctest.Wait and the bubble's fake clock work with
// it. Create the Network inside the bubble that uses it.
//
// It is not a network simulator: there is no latency, reordering or
// duplication, and addresses of any Kind (UDP or XBee) may share one
// Network.
//
// # Concurrency and buffers
//
// ReadFrom is called from one goroutine per Conn; it copies a datagram
// into the caller's buffer. WriteTo is safe for concurrent use and copies
// b before it returns (one copy per recipient). Close unblocks ReadFrom,
// which then returns an error wrapping net.ErrClosed.
package transporttest
