package paho

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// TestCutInFlight: the link to the broker really breaks (a proxy closes
// the connections with QoS 1 and 2 publishes in flight; the broker and a
// subscriber connected to it directly stay up). On clean connections the
// publishes that were not acknowledged fail with ErrConnectionLost, none
// overtakes a failed one (the failures are a suffix of the stream), and
// every publish reported done has reached the subscriber: nothing is
// reported delivered that the broker never delivered (paho's resend of a
// stored PUBREL to a broker without the session did exactly that).
func TestCutInFlight(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) { testCutInFlight(t, mode, true) })
	// A persistent session fails them too (paho would complete their
	// tokens when it resends them, before any acknowledgement).
	t.Run("transparent-persistent", func(t *testing.T) { testCutInFlight(t, Transparent, false) })
}

func testCutInFlight(t *testing.T, mode Mode, clean bool) {
	m := bridgetest.StartMosquitto(t)
	px := bridgetest.StartProxy(t, m.Addr())
	sub := bridgetest.Subscribe(t, m.URL(), "cut/#", 2)
	u := newUpstream(t, Config{URL: px.URL(), Mode: mode, ConnectTimeout: 2 * time.Second})
	qoss := []byte{1, 2}
	var sessions []*upstreamtest.Session
	for _, q := range qoss {
		sessions = append(sessions, upstreamtest.Open(t, u, info(fmt.Sprintf("cut%d", q), clean)))
	}
	// Each session keeps a window of publishes outstanding (mosquitto
	// disconnects a client with more than 20 QoS 2 ones in flight), so
	// that the cut finds some in flight.
	errs := make([][]error, len(qoss))
	failed := make([]chan struct{}, len(qoss))
	stop := make(chan struct{})
	ended := make(chan struct{}, len(qoss))
	for i, q := range qoss {
		failed[i] = make(chan struct{})
		go func() {
			defer func() { ended <- struct{}{} }()
			var window []<-chan error
			record := func() {
				err := waitErr(t, window[0])
				window = window[1:]
				if err != nil && len(errs[i]) > 0 && errs[i][len(errs[i])-1] == nil {
					close(failed[i])
				} else if err != nil && len(errs[i]) == 0 {
					close(failed[i])
				}
				errs[i] = append(errs[i], err)
			}
			for j := 0; ; j++ {
				select {
				case <-stop:
					for len(window) > 0 {
						record()
					}
					return
				default:
				}
				if len(window) == 10 {
					record()
				}
				window = append(window, sessions[i].PublishAsync(bridge.Message{
					Topic: fmt.Sprintf("cut/%d", q), Payload: []byte(strconv.Itoa(j)), QoS: q}))
			}
		}()
	}
	// Cut once some publishes are through on both sessions.
	seen := make(map[string]bool)
	waitSub(t, sub, "cut/1", seen)
	waitSub(t, sub, "cut/2", seen)
	px.Cut()
	for i := range qoss {
		select {
		case <-failed[i]:
		case <-time.After(3 * timeout):
			t.Fatalf("qos %d: no publish failed after the cut", qoss[i])
		}
	}
	close(stop)
	for range qoss {
		<-ended
	}
	px.Restore()

	want := make(map[string]bool) // topic/payload reported done
	for i, q := range qoss {
		failed := -1
		for j, err := range errs[i] {
			switch {
			case err == nil && failed >= 0:
				t.Errorf("qos %d: publish %d done after publish %d failed (overtook it)", q, j, failed)
			case err == nil:
				want[fmt.Sprintf("cut/%d %d", q, j)] = true
			case !errors.Is(err, ErrConnectionLost):
				t.Errorf("qos %d: publish %d: %v, want ErrConnectionLost", q, j, err)
			case failed < 0:
				failed = j
			}
		}
		if failed < 0 {
			t.Errorf("qos %d: nothing failed at the cut", q)
		}
		t.Logf("qos %d: %d of %d done before the cut, the rest failed (first: %v)", q, max(failed, 0), len(errs[i]), errs[i][max(failed, 0)])
	}
	for k := range seen {
		delete(want, k)
	}
	deadline := time.After(3 * timeout)
	for len(want) > 0 {
		select {
		case got := <-sub:
			delete(want, got.Topic+" "+string(got.Payload))
		case <-deadline:
			var missing []string
			for k := range want {
				missing = append(missing, k)
			}
			t.Fatalf("%d messages reported delivered never reached the subscriber: %s", len(missing), strings.Join(missing, ", "))
		}
	}

	// The session works again on the next connection.
	for i, s := range sessions {
		waitPublish(t, s, bridge.Message{Topic: "cut/after", Payload: []byte("x"), QoS: qoss[i]})
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(3 * timeout):
		t.Error("publish did not complete")
		return errors.New("no completion")
	}
}

// waitSub waits for a message on topic; seen gets every message read.
func waitSub(t *testing.T, ch <-chan bridgetest.Message, topic string, seen map[string]bool) {
	t.Helper()
	deadline := time.After(3 * timeout)
	for {
		select {
		case m := <-ch:
			seen[m.Topic+" "+string(m.Payload)] = true
			if m.Topic == topic {
				return
			}
		case <-deadline:
			t.Fatalf("nothing on %s arrived", topic)
		}
	}
}

// waitPublish publishes m until it succeeds (the session reconnects).
func waitPublish(t *testing.T, s *upstreamtest.Session, m bridge.Message) {
	t.Helper()
	deadline := time.Now().Add(3 * timeout)
	for {
		err := waitErr(t, s.PublishAsync(m))
		if err == nil {
			return
		}
		if !errors.Is(err, ErrConnectionLost) || time.Now().After(deadline) {
			t.Fatalf("publish after the link is back: %v", err)
		}
		// Wait for the reconnect: a failed publish completes at once.
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
}
