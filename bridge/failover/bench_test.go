package failover_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/spool"
)

// BenchmarkReplay measures the replay to mosquitto: b.N QoS 1 messages of
// 10 clients that are not connected (so through the replay session) are
// put in the spool while the primary is held down; the timer runs from
// "up" until a subscriber at mosquitto has them all.
func BenchmarkReplay(b *testing.B) {
	r := newRig(b, rigConfig{closedGate: true})
	var wg sync.WaitGroup
	for n := range b.N {
		id := fmt.Sprintf("sensor%d", n%10)
		m := msg(id, n/10, 1)
		wg.Add(1)
		r.sp.Append(id, spool.Message{Topic: m.Topic, Payload: m.Payload, QoS: 1}, func(_ spool.Entry, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	s := newSink(b)
	s.attach(r.mq.URL(), 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	r.gate.set(true)
	s.waitFor("replay", func(map[string][]int) bool { return s.n >= b.N })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkOutagePublish measures uplink publishing during an outage: 10
// sensors publish QoS 1 concurrently, each message appended to the spool
// (acknowledged after the fsync of its group commit) and published on the
// embedded broker.
func BenchmarkOutagePublish(b *testing.B) {
	r := newRig(b, rigConfig{closedGate: true})
	const clients = 10
	var sessions []bridge.Session
	for i := range clients {
		done := make(chan bridge.Session, 1)
		r.f.Open(bridge.ClientInfo{ClientID: fmt.Sprintf("sensor%d", i), CleanSession: true},
			func(bridge.Message) {}, func(s bridge.Session, err error) {
				if err != nil {
					b.Error(err)
				}
				done <- s
			})
		sessions = append(sessions, <-done)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			// A window of 16 in flight per sensor, like a gateway's
			// max_inflight.
			sem := make(chan struct{}, 16)
			var inner sync.WaitGroup
			for n := i; n < b.N; n += clients {
				sem <- struct{}{}
				inner.Add(1)
				s.Publish(msg(fmt.Sprintf("sensor%d", i), n, 1), func(err error) {
					if err != nil {
						b.Error(err)
					}
					<-sem
					inner.Done()
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkPublishDirect measures the failover's cost on the normal path:
// the primary is up and the sensor has no backlog, so its QoS 0 messages
// go straight to its paho session (mosquitto reads them).
func BenchmarkPublishDirect(b *testing.B) {
	r := newRig(b, rigConfig{})
	st := r.watchStatus()
	st.wait("up")
	done := make(chan bridge.Session, 1)
	r.f.Open(bridge.ClientInfo{ClientID: "sensor0", CleanSession: true},
		func(bridge.Message) {}, func(s bridge.Session, err error) {
			if err != nil {
				b.Error(err)
			}
			done <- s
		})
	s := <-done
	m := msg("sensor0", 0, 0)
	var wg sync.WaitGroup
	complete := func(err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		s.Publish(m, complete)
	}
	wg.Wait()
	if d := r.f.Stats().Direct; d < uint64(b.N) {
		b.Errorf("%d of %d published directly", d, b.N)
	}
}
