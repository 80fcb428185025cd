package paho

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/bridge"
)

func TestStored(t *testing.T) {
	closedWrite := &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"write on closed connection", closedWrite, true},
		{"connection reset", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}, true},
		{"wrapped", fmt.Errorf("x: %w", closedWrite), true},
		{"not connected", mqtt.ErrNotConnected, false},
		{"no message ids", errors.New("no message IDs available"), false},
	} {
		if got := stored(tt.err); got != tt.want {
			t.Errorf("%s: stored(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// fakeEngine issues publishes with the tokens it is given.
type fakeEngine struct {
	toks  []token
	conns connCounter
	clean bool // a clean connection: publishes are not kept by paho
}

func (e *fakeEngine) issue(o *op) {
	o.conn = e.conns.count()
	o.keep = !e.clean
	o.tok, e.toks = e.toks[0], e.toks[1:]
}

func (e *fakeEngine) complete(o *op) bool {
	if e.clean {
		o.done.Err(o.lostResult())
	} else {
		o.done.Err(o.result())
	}
	return false
}

func (e *fakeEngine) shutdown() {}

func (e *fakeEngine) connections() *connCounter { return &e.conns }

// failedToken is a paho token that failed with err.
type failedToken struct{ err error }

func (f failedToken) Done() <-chan struct{} { c := make(chan struct{}); close(c); return c }

func (f failedToken) Error() error { return f.err }

// TestDriveStoredPublish: on a persistent session, a QoS 1 publish that
// paho failed writing to a connection that had gone completes when the
// next connection is up, in order before the publishes after it; another
// failure completes at once.
func TestDriveStoredPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &fakeEngine{}
		e.conns.connected()
		e.toks = []token{
			failedToken{&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}},
			failedToken{nil},
			failedToken{mqtt.ErrNotConnected},
		}
		q := newFIFO[op]()
		stop := make(chan struct{})
		ended := make(chan struct{})
		go func() { defer close(ended); drive(q, e, nil, stop, ErrClosed) }()

		var got []string
		for i := range 2 {
			q.push(op{kind: opPublish, done: bridge.Completion{Err: func(err error) { got = append(got, fmt.Sprint(i, " ", err)) }}})
		}
		synctest.Wait()
		if len(got) > 0 {
			t.Fatalf("completions %q before the connection was back", got)
		}
		e.conns.connected()
		synctest.Wait()
		if d := cmp.Diff([]string{"0 <nil>", "1 <nil>"}, got); d != "" {
			t.Errorf("completions after the reconnect (-want +got):\n%s", d)
		}

		got = nil
		q.push(op{kind: opPublish, done: bridge.Completion{Err: func(err error) { got = append(got, fmt.Sprint(err)) }}})
		synctest.Wait()
		if d := cmp.Diff([]string{mqtt.ErrNotConnected.Error()}, got); d != "" {
			t.Errorf("completion of a publish paho refused (-want +got):\n%s", d)
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
