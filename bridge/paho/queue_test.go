package paho

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/bridge"
)

// fakeEngine issues publishes with the tokens it is given.
type fakeEngine struct {
	toks  []token
	conns connCounter
	clean bool // a clean connection: publishes are not kept by paho
}

func (e *fakeEngine) issue(o *op) {
	o.conn = e.conns.lossCount()
	o.keep = !e.clean
	o.tok, e.toks = e.toks[0], e.toks[1:]
}

func (e *fakeEngine) complete(o *op) bool {
	o.done.Err(o.lostResult())
	return false
}

func (e *fakeEngine) shutdown() {}

func (e *fakeEngine) connections() *connCounter { return &e.conns }

// failedToken is a paho token that failed with err.
type failedToken struct{ err error }

func (f failedToken) Done() <-chan struct{} { c := make(chan struct{}); close(c); return c }

func (f failedToken) Error() error { return f.err }

// pendingToken never completes.
type pendingToken struct{}

func (pendingToken) Done() <-chan struct{} { return nil }

func (pendingToken) Error() error { return nil }

// TestDriveKeptPublishLost: a persistent session's publish whose
// connection is lost fails with ErrConnectionLost once the loss is
// counted, without waiting for its token (paho would complete it when it
// resends it, before any acknowledgement); a later one is waited for.
func TestDriveKeptPublishLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{}
		e.conns.connected()
		e.toks = []token{pendingToken{}, failedToken{nil}}
		q := newFIFO[op]()
		stop := make(chan struct{})
		ended := make(chan struct{})
		go func() { defer close(ended); drive(q, e, nil, stop, ErrClosed) }()

		var got []error
		q.push(op{kind: opPublish, done: bridge.Completion{Err: func(err error) { got = append(got, err) }}})
		synctest.Wait()
		if len(got) > 0 {
			t.Fatalf("completion %v before the loss", got)
		}
		e.conns.lost()
		q.push(op{kind: opPublish, done: bridge.Completion{Err: func(err error) { got = append(got, err) }}})
		synctest.Wait()
		if len(got) != 2 || !errors.Is(got[0], ErrConnectionLost) || got[1] != nil {
			t.Errorf("completions %v, want ErrConnectionLost then success", got)
		}
		close(stop)
		<-ended
	})
}

// TestDriveCleanPublishFails: on a clean connection the same write failure
// completes at once with ErrConnectionLost (paho does not send it again),
// and a success after it stays a success.
func TestDriveCleanPublishFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{clean: true}
		e.conns.connected()
		e.toks = []token{
			failedToken{&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}},
			failedToken{mqtt.ErrNotConnected},
			failedToken{nil},
		}
		q := newFIFO[op]()
		stop := make(chan struct{})
		ended := make(chan struct{})
		go func() { defer close(ended); drive(q, e, nil, stop, ErrClosed) }()

		var got []error
		for range 3 {
			q.push(op{kind: opPublish, done: bridge.Completion{Err: func(err error) { got = append(got, err) }}})
		}
		synctest.Wait()
		if len(got) != 3 {
			t.Fatalf("%d completions, want 3 without a reconnect", len(got))
		}
		for i, err := range got[:2] {
			if !errors.Is(err, ErrConnectionLost) {
				t.Errorf("publish %d: %v, want ErrConnectionLost", i, err)
			}
		}
		if got[2] != nil {
			t.Errorf("publish 2: %v, want success", got[2])
		}
		close(stop)
		<-ended
	})
}
