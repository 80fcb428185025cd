package paho

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Bounds of a coalescingConn.
const (
	// coalesceMax bounds the bytes waiting to be written on one upstream
	// connection; a Write that would pass it waits for the flusher
	// (back-pressure onto paho's writer and so onto the gateway).
	coalesceMax = 256 << 10
	// coalesceCloseFlush bounds how long Close waits for the pending
	// bytes to leave before it closes the connection under them.
	coalesceCloseFlush = 2 * time.Second
	// coalesceKeep: a buffer grown past it by a burst is left to the GC
	// rather than kept for the next one.
	coalesceKeep = 64 << 10
)

// coalescingConn is a net.Conn whose writes are coalesced: Write appends
// to a buffer and returns; one flusher goroutine per connection writes
// out whatever has accumulated, at once, with no timer, so a packet
// written while the flusher is idle leaves immediately and packets
// written while it is busy leave together in the next write(2). paho
// writes each MQTT packet with its own Write; at high rates this turns
// one syscall per message into one per burst (and, over TLS, one record
// per burst).
//
// Concurrency: Write may be called from several goroutines (paho writes
// from one); Read and the deadline methods go straight to the wrapped
// conn. Buffer ownership: Write copies p, the caller keeps it. A failed
// write of the underlying conn is returned by the next Write (and every
// later one); the bytes pending then are lost, as they would be in a
// socket buffer of a broken connection. Deadlines: SetWriteDeadline (and
// the write half of SetDeadline) bounds Write's wait for room, which
// fails with os.ErrDeadlineExceeded; the flusher's writes are bounded by
// stall each (paho's WriteTimeout; 0: unbounded), since paho sets a write
// deadline just before its Write and clears it just after, which would
// leave the flusher's write unbounded. Close flushes what is pending
// (bounded by coalesceCloseFlush), closes the wrapped conn and waits for
// the flusher.
type coalescingConn struct {
	net.Conn
	max   int
	flush time.Duration // Close's bound on the final flush
	stall time.Duration // bound of one write of the wrapped conn; 0: none

	mu      sync.Mutex
	ready   sync.Cond // the flusher waits for bytes or close
	room    sync.Cond // writers wait for room
	buf     []byte    // pending bytes
	spare   []byte    // the flusher's buffer, swapped with buf
	writing bool      // the flusher holds bytes it is writing
	err     error     // sticky failure of the wrapped conn
	closed  bool
	wrote   bool          // a Write came (paho's CONNECT is the first)
	wdl     time.Time     // Write's deadline for room; zero: none
	done    chan struct{} // the flusher has returned

	closeOnce sync.Once
	closeErr  error
}

// newCoalescingConn wraps c and starts its flusher; max bounds the
// pending bytes (a single larger Write is still accepted when nothing is
// pending), flush bounds Close's final flush and stall each write of c
// (0: unbounded).
func newCoalescingConn(c net.Conn, max int, flush, stall time.Duration) *coalescingConn {
	cc := &coalescingConn{Conn: c, max: max, flush: flush, stall: stall, done: make(chan struct{})}
	cc.ready.L = &cc.mu
	cc.room.L = &cc.mu
	go cc.flusher()
	return cc
}

// Write queues a copy of p for the flusher. It waits while the pending
// bytes would pass the bound (until the write deadline), and fails with
// the wrapped conn's write error once there has been one, or
// net.ErrClosed after Close.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var timer *time.Timer
	for c.err == nil && !c.closed && len(c.buf) > 0 && len(c.buf)+len(p) > c.max {
		if !c.wdl.IsZero() {
			if !time.Now().Before(c.wdl) {
				if timer != nil {
					timer.Stop()
				}
				return 0, os.ErrDeadlineExceeded
			}
			if timer == nil {
				timer = time.AfterFunc(time.Until(c.wdl), c.wakeWriters)
			}
		}
		c.room.Wait()
	}
	if timer != nil {
		timer.Stop()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, net.ErrClosed
	}
	wake := len(c.buf) == 0 && !c.writing
	c.buf = append(c.buf, p...)
	c.wrote = true
	if wake {
		c.ready.Signal()
	}
	return len(p), nil
}

// writePublish0 appends an MQTT QoS 0 PUBLISH packet of topic and payload
// [MQTT 3.1.1 §3.3] without allocating. sent false: the connection has
// not had its first Write (paho's CONNECT), or the buffer is full (paho
// waits for room, this does not), so nothing was written. sent true with
// an error: the connection failed or was closed.
func (c *coalescingConn) writePublish0(topic string, payload []byte, retain bool) (sent bool, err error) {
	rem := 2 + len(topic) + len(payload)
	if len(topic) > 0xffff || rem > 268435455 {
		return false, nil // paho's problem to report
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return true, c.err
	case c.closed:
		return true, net.ErrClosed
	case !c.wrote || (len(c.buf) > 0 && len(c.buf)+rem+5 > c.max):
		return false, nil
	}
	wake := len(c.buf) == 0 && !c.writing
	h := byte(0x30) // PUBLISH, DUP 0, QoS 0
	if retain {
		h |= 0x01
	}
	b := append(c.buf, h)
	for { // remaining length [MQTT 3.1.1 §2.2.3]
		d := byte(rem % 128)
		rem /= 128
		if rem > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if rem == 0 {
			break
		}
	}
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	c.buf = append(b, payload...)
	if wake {
		c.ready.Signal()
	}
	return true, nil
}

// wakeWriters wakes the Writes waiting for room, to look at their
// deadline.
func (c *coalescingConn) wakeWriters() {
	c.mu.Lock()
	c.room.Broadcast()
	c.mu.Unlock()
}

// SetWriteDeadline sets the deadline of Write's wait for room (see the
// type's doc); it does not touch the wrapped conn.
func (c *coalescingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.room.Broadcast()
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the wrapped conn's read deadline and Write's deadline.
func (c *coalescingConn) SetDeadline(t time.Time) error {
	_ = c.SetWriteDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

// flusher writes out the pending bytes until the conn is closed and
// drained, or a write fails.
func (c *coalescingConn) flusher() {
	defer close(c.done)
	c.mu.Lock()
	for {
		for len(c.buf) == 0 && !c.closed {
			c.ready.Wait()
		}
		if len(c.buf) == 0 { // closed and drained
			c.mu.Unlock()
			return
		}
		out := c.buf
		c.buf, c.spare = c.spare[:0], nil
		c.writing = true
		c.mu.Unlock()

		var err error
		if c.stall > 0 {
			err = c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
		}
		if err == nil {
			_, err = c.Conn.Write(out) // a net.Conn writes all of out or fails
		}

		c.mu.Lock()
		c.writing = false
		if cap(out) <= coalesceKeep {
			c.spare = out[:0]
		}
		c.room.Broadcast()
		if err != nil {
			c.err = fmt.Errorf("paho: upstream write: %w", err)
			c.buf = nil
			c.mu.Unlock()
			return
		}
	}
}

// Close flushes the pending bytes (waiting at most the flush bound),
// closes the wrapped conn and waits for the flusher. Later Writes fail
// with net.ErrClosed. It returns the wrapped conn's Close error, or the
// write error that lost pending bytes.
func (c *coalescingConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.ready.Signal()
		c.room.Broadcast()
		c.mu.Unlock()
		t := time.NewTimer(c.flush)
		select {
		case <-c.done:
			t.Stop()
			c.closeErr = c.Conn.Close()
		case <-t.C: // the peer does not read: cut the write under the flusher
			_ = c.Conn.Close()
			<-c.done
			c.closeErr = fmt.Errorf("paho: upstream close: pending bytes not written within %v", c.flush)
			return
		}
		c.mu.Lock()
		if c.err != nil {
			c.closeErr = c.err
		}
		c.mu.Unlock()
	})
	return c.closeErr
}

// openCoalesced is paho's OpenConnectionFunc for tcp:// and ssl:// broker
// URLs: it dials like paho's own (Dialer, ConnectTimeout, TLSConfig) and
// returns a coalescingConn. Over TLS it wraps the tls.Conn, so that a
// burst leaves as one TLS record as well as one write(2).
func openCoalesced(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	ctx := context.Background()
	if o.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.ConnectTimeout)
		defer cancel()
	}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = d.DialContext(ctx, "tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		td := &tls.Dialer{NetDialer: d, Config: o.TLSConfig}
		c, err = td.DialContext(ctx, "tcp", uri.Host)
	default:
		return nil, fmt.Errorf("paho: unsupported scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c, coalesceMax, coalesceCloseFlush, o.WriteTimeout), nil
}
