package failover_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/spool"
)

// fakePrimary is an in-test primary whose sessions can be made to fail
// their publishes, as a broker that drops one client's connection while
// the probe stays connected. (Everything else in these tests is real.)
type fakePrimary struct {
	mu     sync.Mutex
	fail   bool
	opens  int
	got    []string // payloads acknowledged, in order
	notify chan struct{}
}

type fakeSession struct{ p *fakePrimary }

func (p *fakePrimary) Open(_ bridge.ClientInfo, _ func(bridge.Message), done func(bridge.Session, error)) {
	p.mu.Lock()
	p.opens++
	p.mu.Unlock()
	go done(fakeSession{p}, nil)
}

func (p *fakePrimary) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (s fakeSession) Publish(m bridge.Message, done func(error)) {
	p := s.p
	p.mu.Lock()
	var err error
	if p.fail {
		err = errors.New("fake: connection lost")
	} else {
		p.got = append(p.got, string(m.Payload))
	}
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
	go done(err)
}

func (s fakeSession) Subscribe(_ string, qos byte, done func(byte, error)) { go done(qos, nil) }
func (s fakeSession) Unsubscribe(_ string, done func(error))               { go done(nil) }
func (s fakeSession) Close(_ bool, done func())                            { go done() }

type alwaysUp struct{}

func (alwaysUp) Run(ctx context.Context, report func(bool)) error {
	report(true)
	<-ctx.Done()
	return nil
}

// TestSessionFailureWhileUp: one session's primary publishes fail while
// the primary counts as up: the message is spooled (the sensor gets its
// acknowledgement after the fsync), the session falls back, moves back at
// the next retry and the message is replayed before the ones after it.
func TestSessionFailureWhileUp(t *testing.T) {
	b := startBroker(t)
	sp, err := spool.Open(spool.Config{Path: filepath.Join(t.TempDir(), "spool.db"), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	p := &fakePrimary{notify: make(chan struct{}, 1)}
	f, err := failover.New(failover.Config{
		Primary: p, Fallback: b, Health: alwaysUp{}, Spool: sp,
		StatusTopic: statusTopic, Status: b.Server(),
		RetryInterval: 50 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	st := &statusWatch{t: t, ch: bridgetest.Subscribe(t, "tcp://"+b.Addr(), statusTopic, 1)}
	upstreamtest.Run(t, f)
	st.wait(failover.StatusUp)
	s := upstreamtest.Open(t, f, bridge.ClientInfo{ClientID: "sensor0", CleanSession: true})
	s.MustPublish(msg("sensor0", 0, 1))
	p.mu.Lock()
	p.fail = true
	p.mu.Unlock()
	s.MustPublish(msg("sensor0", 1, 1)) // fails upstream: spooled
	p.mu.Lock()
	p.fail = false
	p.mu.Unlock()
	s.MustPublish(msg("sensor0", 2, 1)) // behind the backlog
	want := []string{"sensor0/0", "sensor0/1", "sensor0/2"}
	deadline := time.After(waitLong)
	for {
		p.mu.Lock()
		got := append([]string(nil), p.got...)
		opens := p.opens
		p.mu.Unlock()
		if len(got) >= len(want) {
			if !slicesEqual(got, want) {
				t.Errorf("primary got %v, want %v", got, want)
			}
			if opens < 2 {
				t.Errorf("%d primary opens, want the session reopened", opens)
			}
			break
		}
		select {
		case <-p.notify:
		case <-deadline:
			t.Fatalf("primary got %v, want %v", got, want)
		}
	}
	// "up" is published after the replay's last removal (there may be
	// an "up" between the two replays too).
	for f.Stats().Replayed < 2 {
		st.wait(failover.StatusUp)
	}
	if fs := f.Stats(); fs.Abandoned != 1 || fs.Replayed != 2 {
		t.Errorf("stats %+v: want 1 abandoned, 2 replayed", fs)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
