package embedded

import (
	"testing"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// BenchmarkPublishDeliver measures one session's QoS 0 publish reaching
// another session's deliver through the broker.
func BenchmarkPublishDeliver(b *testing.B) {
	br, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	upstreamtest.Run(b, br)
	pub := upstreamtest.Open(b, br, info("pub", true))
	got := make(chan struct{}, 1024)
	sub := make(chan bridge.Session, 1)
	br.Open(info("sub", true), func(bridge.Message) { got <- struct{}{} }, func(s bridge.Session, err error) {
		if err != nil {
			b.Error(err)
		}
		sub <- s
	})
	subDone := make(chan error, 1)
	(<-sub).Subscribe("bench/#", 0, func(_ byte, err error) { subDone <- err })
	if err := <-subDone; err != nil {
		b.Fatal(err)
	}
	payload := []byte("21.5")
	done := func(error) {}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	go func() {
		for range b.N {
			pub.S.Publish(bridge.Message{Topic: "bench/t", Payload: payload}, done)
		}
	}()
	for range b.N {
		<-got
	}
}
