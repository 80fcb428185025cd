package mqttsn_test

import (
	"testing"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/mqttsntest"
)

// BenchmarkParse/<vector> parses each golden vector into a reused Packet.
func BenchmarkParse(b *testing.B) {
	for _, v := range mqttsntest.Vectors(b) {
		b.Run(v.Name, func(b *testing.B) {
			var p mqttsn.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(v.Bytes)))
			for b.Loop() {
				if err := mqttsn.Parse(v.Bytes, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppend/<vector> encodes each golden vector into a reused buffer.
func BenchmarkAppend(b *testing.B) {
	for _, v := range mqttsntest.Vectors(b) {
		b.Run(v.Name, func(b *testing.B) {
			var p mqttsn.Packet
			if err := mqttsn.Parse(v.Bytes, &p); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, len(v.Bytes))
			b.ReportAllocs()
			b.SetBytes(int64(len(v.Bytes)))
			for b.Loop() {
				var err error
				if buf, err = p.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
