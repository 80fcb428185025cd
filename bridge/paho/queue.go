package paho

import (
	"fmt"
	"sync"
)

// fifo is the queue of issued operations of one completer goroutine:
// producers append without blocking, the goroutine swaps the slice out.
// Items are kept by value, so a steady stream allocates nothing for
// queuing.
type fifo[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
}

func newFIFO[T any]() *fifo[T] { return &fifo[T]{wake: make(chan struct{}, 1)} }

// push appends it; false when the queue is closed.
func (q *fifo[T]) push(it T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// swap returns the queued items and keeps buf (emptied) for the next
// producers.
func (q *fifo[T]) swap(buf []T) []T {
	clear(buf)
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = buf[:0]
	return items
}

// close refuses further items and returns those still queued.
func (q *fifo[T]) close() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	items := q.items
	q.items = nil
	return items
}

// token is what an operation waits for: a paho Token, or one of ours.
type token interface {
	Done() <-chan struct{}
	Error() error
}

// engine is what a completer goroutine drives: a transparent session or
// the aggregator.
type engine interface {
	// issue starts o on the connection (sets o.tok, or o.err). It is
	// called on the completer goroutine, in issue order.
	issue(o *op)
	// complete calls o's completion once its token is done, or with
	// o.err set. True means the engine has ended.
	complete(o *op) bool
	// shutdown ends the engine when Run stops.
	shutdown()
	// connections returns the engine's paho client's connection counter.
	connections() *connCounter
}

// drive is the completer goroutine's loop. It issues the queued operations
// in order (so the caller of Publish and friends never waits for paho, which
// can block on a full connection) and completes them in the same order as
// their tokens finish. Once abort is closed, outstanding tokens are not
// waited for any more: their operations fail with errAbort. When stop is
// closed, everything left fails and the engine is shut down.
func drive(q *fifo[op], e engine, abort, stop <-chan struct{}, errAbort error) {
	var batch, pending []op
	head := 0
	aborted, stopping := false, false
	for {
		batch = q.swap(batch)
		for i := range batch {
			o := batch[i]
			if o.err == nil {
				if stopping {
					o.err = ErrClosed
				} else {
					e.issue(&o)
				}
			}
			pending = append(pending, o)
		}
		for head < len(pending) {
			o := &pending[head]
			if o.err == nil && o.tok != nil && !isDone(o.tok) {
				switch {
				case o.keep && e.connections().lostSince(o.conn):
					// A persistent session's publish whose connection
					// was lost: paho would complete its token when it
					// resends it, before any acknowledgement; fail it
					// now and ignore the token.
					o.err = fmt.Errorf("paho: publish: %w", ErrConnectionLost)
				case !aborted:
				default:
					o.err = errAbort
				}
				if o.err == nil {
					break
				}
			}
			head++
			if e.complete(o) {
				failAll(pending[head:], ErrSessionClosed)
				failAll(q.close(), ErrSessionClosed)
				return
			}
			*o = op{}
		}
		if head == len(pending) {
			pending, head = pending[:0], 0
		}
		if stopping {
			e.shutdown()
			return
		}
		var tokDone <-chan struct{}
		if head < len(pending) {
			tokDone = pending[head].tok.Done()
		}
		select {
		case <-tokDone:
		case <-q.wake:
		case <-abort:
			aborted, abort = true, nil
		case <-stop:
			aborted, stopping, abort, stop = true, true, nil, nil
			failAll(q.close(), ErrClosed)
		}
	}
}

// connCounter counts the connections a paho client made (its OnConnect
// calls), so that an operation can wait for the next one.
type connCounter struct {
	mu      sync.Mutex
	n       uint64
	losses  uint64 // persistent sessions: reconnects begun (paho's OnReconnecting)
	waiters []waitToken
}

// lost counts the loss of a connection (before paho reconnects).
func (c *connCounter) lost() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.losses++
}

// lossCount returns the number of losses so far.
func (c *connCounter) lossCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.losses
}

// lostSince reports whether a loss was counted after n.
func (c *connCounter) lostSince(n uint64) bool { return c.lossCount() != n }

// count returns the number of connections so far.
func (c *connCounter) count() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// connected counts a connection and releases the waiters.
func (c *connCounter) connected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	for _, w := range c.waiters {
		close(w)
	}
	c.waiters = nil
}

// waitToken is done when closed; it never fails.
type waitToken chan struct{}

func (w waitToken) Done() <-chan struct{} { return w }

func (w waitToken) Error() error { return nil }

func isDone(t token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

func failAll(ops []op, err error) {
	for i := range ops {
		ops[i].done.Fail(err)
	}
}
