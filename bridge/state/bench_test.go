package state

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/snbridge/snbridge/mqttsn/session"
)

// BenchmarkCommit measures one group commit (one transaction, one fsync)
// of n sleeping sessions with 100 buffered 64-octet messages each: the
// cost of one flush of the gateway with n dirty sessions.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s, err := Open(Config{Path: filepath.Join(b.TempDir(), "state.db")})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			defer func() { cancel(); <-done; s.Close() }()
			changes := make([]Change, n)
			for i := range changes {
				id := fmt.Sprintf("sensor-%d", i)
				r := rec(id)
				for range 100 {
					r.Snapshot.Queue = append(r.Snapshot.Queue, session.Message{Topic: "cmd/" + id, Payload: make([]byte, 64), QoS: 1})
				}
				changes[i] = Change{ClientID: id, Record: r}
			}
			errc := make(chan error, 1)
			b.ReportAllocs()
			for b.Loop() {
				s.Commit(changes, func(err error) { errc <- err })
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "sessions/s")
		})
	}
}
