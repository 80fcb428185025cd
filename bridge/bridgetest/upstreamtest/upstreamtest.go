// Package upstreamtest drives a [bridge.Upstream] from a test as the
// gateway would, through its callbacks, and turns them into blocking calls
// with deadlines. It checks the callback contract on the way: every
// completion is called exactly once, completions of one session come in
// issue order, and deliver is never called concurrently for one session.
//
// It is separate from package bridgetest because it imports package
// bridge, which bridge's own internal tests could not then import.
package upstreamtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
)

// Timeout bounds every operation.
const Timeout = 10 * time.Second

// Run runs up.Run until the test ends and fails the test when Run returns
// an error; it waits for Run to return in t.Cleanup.
func Run(t testing.TB, up bridge.Upstream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- up.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("upstream Run: %v", err)
			}
		case <-time.After(Timeout):
			t.Errorf("upstream Run did not return within %v of cancel", Timeout)
		}
	})
}

// Session is an opened upstream session with the messages delivered to it.
type Session struct {
	S    bridge.Session
	Msgs chan bridge.Message

	t        testing.TB
	inDel    atomic.Int32
	mu       sync.Mutex
	issued   int // operations issued
	finished int // operations completed
}

// Open opens a session for info and fails the test on error.
func Open(t testing.TB, up bridge.Upstream, info bridge.ClientInfo) *Session {
	t.Helper()
	s, err := TryOpen(t, up, info)
	if err != nil {
		t.Fatalf("open %q: %v", info.ClientID, err)
	}
	return s
}

// TryOpen opens a session for info and returns the error of the open.
func TryOpen(t testing.TB, up bridge.Upstream, info bridge.ClientInfo) (*Session, error) {
	t.Helper()
	s := &Session{t: t, Msgs: make(chan bridge.Message, 4096)}
	type result struct {
		s   bridge.Session
		err error
	}
	ch := make(chan result, 2)
	up.Open(info, s.deliver, func(bs bridge.Session, err error) { ch <- result{bs, err} })
	r := wait(t, ch, "open "+info.ClientID)
	if r.err == nil && r.s == nil {
		t.Fatalf("open %q: nil session and nil error", info.ClientID)
	}
	if r.err != nil && r.s != nil {
		t.Fatalf("open %q: session and error %v", info.ClientID, r.err)
	}
	s.S = r.s
	checkOnce(t, ch, "open")
	return s, r.err
}

func (s *Session) deliver(m bridge.Message) {
	if s.inDel.Add(1) != 1 {
		s.t.Errorf("deliver called concurrently for one session")
	}
	defer s.inDel.Add(-1)
	select {
	case s.Msgs <- m:
	default:
		s.t.Errorf("upstreamtest: message buffer full, %q dropped", m.Topic)
	}
}

// seq returns the number of an operation about to be issued and a func to
// call on its completion that checks the completion order.
func (s *Session) seq(what string) func() {
	s.mu.Lock()
	n := s.issued
	s.issued++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if n != s.finished {
			s.t.Errorf("%s: completion %d came as %d (out of issue order)", what, n, s.finished)
		}
		s.finished++
	}
}

// Publish publishes m and returns the error of its completion.
func (s *Session) Publish(m bridge.Message) error {
	s.t.Helper()
	return wait(s.t, s.PublishAsync(m), "publish "+m.Topic)
}

// PublishAsync issues a publish and returns the channel its completion
// error arrives on.
func (s *Session) PublishAsync(m bridge.Message) <-chan error {
	ch := make(chan error, 2)
	fin := s.seq("publish")
	s.S.Publish(m, func(err error) { fin(); ch <- err })
	return ch
}

// MustPublish publishes m and fails the test on error.
func (s *Session) MustPublish(m bridge.Message) {
	s.t.Helper()
	if err := s.Publish(m); err != nil {
		s.t.Fatalf("publish %q: %v", m.Topic, err)
	}
}

// Subscribe subscribes and returns the granted QoS and error.
func (s *Session) Subscribe(filter string, qos byte) (byte, error) {
	s.t.Helper()
	type result struct {
		g   byte
		err error
	}
	ch := make(chan result, 2)
	fin := s.seq("subscribe")
	s.S.Subscribe(filter, qos, func(g byte, err error) { fin(); ch <- result{g, err} })
	r := wait(s.t, ch, "subscribe "+filter)
	checkOnce(s.t, ch, "subscribe")
	return r.g, r.err
}

// MustSubscribe subscribes and fails the test on error or when the granted
// QoS differs from qos.
func (s *Session) MustSubscribe(filter string, qos byte) {
	s.t.Helper()
	g, err := s.Subscribe(filter, qos)
	if err != nil {
		s.t.Fatalf("subscribe %q: %v", filter, err)
	}
	if g != qos {
		s.t.Fatalf("subscribe %q: granted qos %d, want %d", filter, g, qos)
	}
}

// Unsubscribe unsubscribes and fails the test on error.
func (s *Session) Unsubscribe(filter string) {
	s.t.Helper()
	ch := make(chan error, 2)
	fin := s.seq("unsubscribe")
	s.S.Unsubscribe(filter, func(err error) { fin(); ch <- err })
	if err := wait(s.t, ch, "unsubscribe "+filter); err != nil {
		s.t.Fatalf("unsubscribe %q: %v", filter, err)
	}
	checkOnce(s.t, ch, "unsubscribe")
}

// Close closes the session and waits for the completion.
func (s *Session) Close(discard bool) {
	s.t.Helper()
	ch := make(chan struct{}, 2)
	fin := s.seq("close")
	s.S.Close(discard, func() { fin(); ch <- struct{}{} })
	wait(s.t, ch, "close")
	checkOnce(s.t, ch, "close")
}

// Recv returns the next delivered message, failing the test after timeout.
func (s *Session) Recv(timeout time.Duration) bridge.Message {
	s.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-s.Msgs:
		return m
	case <-timer.C:
		s.t.Fatalf("no message delivered within %v", timeout)
		return bridge.Message{}
	}
}

func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: no completion within %v", what, Timeout)
		var zero T
		return zero
	}
}

// checkOnce fails the test when a completion came twice by now.
func checkOnce[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Errorf("%s: completion called twice", what)
	default:
	}
}
