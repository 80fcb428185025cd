package bridge_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/snbridge/snbridge/bridge"
)

// memUpstream is an in-test bridge.Upstream for loop-level tests and
// benchmarks: it records what the gateway publishes and lets the test
// deliver messages to a client's session. Completions are called at once,
// on the caller's goroutine (the gateway accepts that too).
type memUpstream struct {
	mu       sync.Mutex
	sessions map[string]*memSession
	pubs     []bridge.Message
	openErr  error
	count    atomic.Int64
	record   bool
	hold     []func(error) // completions of QoS 1/2 publishes held back (when holding)
	holding  bool
	notify   chan struct{} // gets a token per publish when not nil
}

type memSession struct {
	u       *memUpstream
	info    bridge.ClientInfo
	deliver func(bridge.Message)
	filters map[string]byte
	closed  bool
}

func newMemUpstream() *memUpstream {
	return &memUpstream{sessions: map[string]*memSession{}, record: true}
}

func (u *memUpstream) Open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	u.mu.Lock()
	err := u.openErr
	s := &memSession{u: u, info: info, deliver: deliver, filters: map[string]byte{}}
	if err == nil {
		u.sessions[info.ClientID] = s
	}
	u.mu.Unlock()
	if err != nil {
		done(nil, err)
		return
	}
	done(s, nil)
}

func (u *memUpstream) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// published returns a copy of what was published so far.
func (u *memUpstream) published() []bridge.Message {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]bridge.Message(nil), u.pubs...)
}

// deliver hands m to the session of clientID, as the broker would.
func (u *memUpstream) deliver(t testing.TB, clientID string, m bridge.Message) {
	t.Helper()
	u.mu.Lock()
	s := u.sessions[clientID]
	u.mu.Unlock()
	if s == nil {
		t.Fatalf("no upstream session for %q", clientID)
	}
	s.deliver(m)
}

func (u *memUpstream) session(clientID string) *memSession {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sessions[clientID]
}

func (s *memSession) Publish(m bridge.Message, done func(error)) {
	u := s.u
	if u.record {
		u.mu.Lock()
		u.pubs = append(u.pubs, m)
		u.mu.Unlock()
	}
	u.count.Add(1)
	if u.notify != nil {
		select {
		case u.notify <- struct{}{}:
		default:
		}
	}
	u.mu.Lock()
	if u.holding && m.QoS > 0 {
		u.hold = append(u.hold, done)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	done(nil)
}

// release completes the held publishes and stops holding.
func (u *memUpstream) release() {
	u.mu.Lock()
	held := u.hold
	u.hold, u.holding = nil, false
	u.mu.Unlock()
	for _, done := range held {
		done(nil)
	}
}

func (s *memSession) Subscribe(filter string, qos byte, done func(byte, error)) {
	s.u.mu.Lock()
	s.filters[filter] = qos
	s.u.mu.Unlock()
	done(qos, nil)
}

func (s *memSession) Unsubscribe(filter string, done func(error)) {
	s.u.mu.Lock()
	delete(s.filters, filter)
	s.u.mu.Unlock()
	done(nil)
}

func (s *memSession) Close(discard bool, done func()) {
	s.u.mu.Lock()
	s.closed = true
	s.u.mu.Unlock()
	done()
}

func (s *memSession) isClosed() bool {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	return s.closed
}
