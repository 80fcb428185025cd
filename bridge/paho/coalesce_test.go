package paho

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// gateConn is a net.Conn whose writes are recorded and, while gated,
// wait for a release; a unit-test double for the wrapped conn.
type gateConn struct {
	net.Conn // nil: only Write and Close are used
	mu       sync.Mutex
	writes   [][]byte
	gate     chan struct{} // each gated write takes one token
	fail     error         // returned by every write once set
	closed   chan struct{}
	deadline time.Time // of the next write; zero: none
}

func (g *gateConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	g.deadline = t
	g.mu.Unlock()
	return nil
}

func newGateConn(gated bool) *gateConn {
	g := &gateConn{closed: make(chan struct{})}
	if gated {
		g.gate = make(chan struct{})
	}
	return g
}

func (g *gateConn) Write(p []byte) (int, error) {
	if g.gate != nil {
		var expired <-chan time.Time
		g.mu.Lock()
		if !g.deadline.IsZero() {
			expired = time.After(time.Until(g.deadline))
		}
		g.mu.Unlock()
		select {
		case <-g.gate:
		case <-g.closed:
			return 0, net.ErrClosed
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return 0, g.fail
	}
	g.writes = append(g.writes, bytes.Clone(p))
	return len(p), nil
}

func (g *gateConn) Close() error { close(g.closed); return nil }

func (g *gateConn) recorded() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, w := range g.writes {
		out = append(out, string(w))
	}
	return out
}

func mustWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

// Packets written while the flusher is busy leave together, in order.
func TestCoalesceBurstInOneWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true)
		c := newCoalescingConn(g, 1<<10, time.Second, 0)
		mustWrite(t, c, "a")
		synctest.Wait() // the flusher holds "a", waiting at the gate
		mustWrite(t, c, "b")
		p := []byte("c")
		mustWrite(t, c, string(p))
		p[0] = 'X' // the caller owns p again
		g.gate <- struct{}{}
		g.gate <- struct{}{}
		synctest.Wait()
		if got, want := strings.Join(g.recorded(), "|"), "a|bc"; got != want {
			t.Fatalf("writes %q, want %q", got, want)
		}
		close(g.gate) // no more gating
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// A Write that would pass the bound waits until the flusher has taken
// the pending bytes; a single large Write is accepted when nothing waits.
func TestCoalesceBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true)
		c := newCoalescingConn(g, 10, time.Second, 0)
		mustWrite(t, c, "0123")
		synctest.Wait() // flusher at the gate with "0123"
		mustWrite(t, c, "45678901")
		returned := make(chan struct{})
		go func() {
			mustWrite(t, c, "2345") // 8+4 > 10: waits
			close(returned)
		}()
		synctest.Wait()
		select {
		case <-returned:
			t.Fatal("Write past the bound did not wait")
		default:
		}
		g.gate <- struct{}{} // "0123" written; the flusher takes "45678901"
		synctest.Wait()
		<-returned
		close(g.gate)
		synctest.Wait()
		if got, want := strings.Join(g.recorded(), ""), "0123456789012345"; got != want {
			t.Fatalf("bytes %q, want %q", got, want)
		}
		big := strings.Repeat("x", 25)
		mustWrite(t, c, big) // larger than the bound, nothing pending
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if w := g.recorded(); w[len(w)-1] != big {
			t.Fatalf("last write %q, want the large one", w[len(w)-1])
		}
	})
}

// Close writes what is pending before closing; later writes fail.
func TestCoalesceCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true)
		c := newCoalescingConn(g, 1<<10, time.Second, 0)
		mustWrite(t, c, "a")
		synctest.Wait()
		mustWrite(t, c, "b")
		closed := make(chan error)
		go func() { closed <- c.Close() }()
		synctest.Wait()
		select {
		case <-g.closed:
			t.Fatal("closed before the pending bytes were written")
		default:
		}
		close(g.gate)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(g.recorded(), "|"); got != "a|b" {
			t.Fatalf("writes %q, want a|b", got)
		}
		if _, err := c.Write([]byte("c")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// Close does not wait for ever on a peer that does not read.
func TestCoalesceCloseBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true) // never released
		c := newCoalescingConn(g, 1<<10, 2*time.Second, 0)
		mustWrite(t, c, "stuck")
		start := time.Now()
		err := c.Close()
		if err == nil || !strings.Contains(err.Error(), "not written") {
			t.Fatalf("Close: %v, want pending bytes not written", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Close took %v, want the 2s bound", d)
		}
	})
}

// A failed write of the wrapped conn is returned by the next Write, and
// by Close.
func TestCoalesceErrorSurfaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(false)
		boom := errors.New("connection reset")
		g.fail = boom
		c := newCoalescingConn(g, 1<<10, time.Second, 0)
		mustWrite(t, c, "lost")
		synctest.Wait() // the flusher failed and returned
		if _, err := c.Write([]byte("next")); !errors.Is(err, boom) {
			t.Fatalf("Write after a failed flush: %v, want %v", err, boom)
		}
		if err := c.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close: %v, want %v", err, boom)
		}
	})
}

// Over a real TCP connection, concurrent writers' packets arrive whole
// and each writer's in order, and Close delivers everything before EOF.
func TestCoalesceTCPOrder(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer s.Close()
		b, _ := io.ReadAll(s)
		got <- b
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newCoalescingConn(raw, 512, time.Second, 0) // small: back-pressure too
	const writers, per = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				if _, err := fmt.Fprintf(c, "<%d:%06d>", w, i); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b := <-got
	next := make([]int, writers)
	n := 0
	for len(b) > 0 {
		var w, i int
		if _, err := fmt.Sscanf(string(b[:10]), "<%d:%06d>", &w, &i); err != nil {
			t.Fatalf("packet %d torn: %q", n, b[:min(len(b), 10)])
		}
		if i != next[w] {
			t.Fatalf("writer %d: packet %d arrived where %d was due", w, i, next[w])
		}
		next[w]++
		b = b[10:]
		n++
	}
	if n != writers*per {
		t.Fatalf("%d packets arrived, want %d", n, writers*per)
	}
}

// The write deadline bounds a Write waiting for room.
func TestCoalesceWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true)
		c := newCoalescingConn(g, 10, time.Second, 0)
		mustWrite(t, c, "0123")
		synctest.Wait() // the flusher holds "0123" at the gate
		mustWrite(t, c, "45678901")
		start := time.Now()
		if err := c.SetWriteDeadline(start.Add(3 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("2345")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write past the bound and the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Write waited %v, want the 3s deadline", d)
		}
		close(g.gate)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(g.recorded(), ""); got != "012345678901" {
			t.Fatalf("bytes %q", got)
		}
	})
}

// A write of the wrapped conn that stalls past the stall bound fails the
// connection: the next Write says so.
func TestCoalesceStallBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateConn(true) // the peer never reads
		c := newCoalescingConn(g, 1<<10, time.Second, 5*time.Second)
		mustWrite(t, c, "stuck")
		time.Sleep(5 * time.Second) // the fake clock: the stall bound passes
		synctest.Wait()
		if _, err := c.Write([]byte("next")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write after a stalled flush: %v, want os.ErrDeadlineExceeded", err)
		}
		if err := c.Close(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Close: %v", err)
		}
	})
}
