package paho

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// BenchmarkPublish measures publishes through one session to a real
// mosquitto, pipelined: b.N publishes are issued, then all completions
// awaited.
func BenchmarkPublish(b *testing.B) {
	for _, mode := range modes {
		for _, qos := range []byte{0, 1} {
			b.Run(mode.String()+"/qos"+string('0'+qos), func(b *testing.B) {
				m := bridgetest.StartMosquitto(b)
				u, err := New(Config{URL: m.URL(), Mode: mode, Logger: zerolog.Nop()})
				if err != nil {
					b.Fatal(err)
				}
				upstreamtest.Run(b, u)
				s := upstreamtest.Open(b, u, bridge.ClientInfo{ClientID: "bench", CleanSession: true})
				payload := []byte("21.5")
				done := make(chan error, 1024)
				cb := func(err error) { done <- err }
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				go func() {
					for range b.N {
						s.S.Publish(bridge.Message{Topic: "bench/t", Payload: payload, QoS: qos}, cb)
					}
				}()
				for range b.N {
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
