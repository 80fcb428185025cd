package xbee

import (
	"testing"
	"time"
)

// BenchmarkDecode decodes one Receive Packet frame per op carrying a
// 26-byte MQTT-SN PUBLISH (with bytes that need escaping in API mode 2),
// fed as one serial read, and parses it as an RxPacket.
func BenchmarkDecode(b *testing.B) {
	payload := unhex(b, "1A 0C 00 0001 0000 7E7D1113 68656C6C6F2C20776F726C6421 0000")
	rx := RxPacket{Src64: 0x0013A20040A1B2C3, Src16: 0x7D11, Options: RxAcknowledged, Data: payload}
	data := rx.AppendFrameData(nil)
	for _, mode := range []APIMode{APIMode1, APIMode2} {
		b.Run(mode.String(), func(b *testing.B) {
			enc := frame(b, mode, data)
			d := NewDecoder(mode, 0)
			var got RxPacket
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			start := time.Now()
			n := 0
			for b.Loop() {
				d.Feed(enc)
				f, ok := d.Next()
				if !ok {
					b.Fatal("no frame")
				}
				if err := got.Parse(f); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "frames/s")
		})
	}
}

// BenchmarkEncode encodes one Transmit Request frame per op.
func BenchmarkEncode(b *testing.B) {
	tx := TxRequest{FrameID: 0x11, Dst64: 0x0013A20040A1B2C3, Dst16: 0x7D11,
		Data: unhex(b, "1A 0C 00 0001 0000 7E7D1113 68656C6C6F2C20776F726C6421 0000")}
	for _, mode := range []APIMode{APIMode1, APIMode2} {
		b.Run(mode.String(), func(b *testing.B) {
			var data, out []byte
			b.ReportAllocs()
			for b.Loop() {
				data = tx.AppendFrameData(data[:0])
				var err error
				if out, err = AppendFrame(out[:0], mode, data); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(out)))
		})
	}
}
