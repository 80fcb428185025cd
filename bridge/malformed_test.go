package bridge_test

import (
	"math/rand/v2"
	"testing"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
)

// malformedDatagrams are datagrams that do not parse, each named.
func malformedDatagrams(t *testing.T) []struct {
	name string
	b    []byte
} {
	noise := make([]byte, 65507) // the largest UDP/IPv4 datagram
	rng := rand.New(rand.NewPCG(1, 2))
	for {
		for i := range noise {
			noise[i] = byte(rng.Uint32())
		}
		var p mqttsn.Packet
		if mqttsn.Parse(noise, &p) != nil {
			break
		}
	}
	return []struct {
		name string
		b    []byte
	}{
		{"empty", []byte{}},
		{"01 04", []byte{0x01, 0x04}},
		{"truncated CONNECT", []byte{0x0a, 0x04, 0x04, 0x01, 0x00}},
		{"length larger than datagram", []byte{0x05, 0x16}},
		{"length smaller than datagram", []byte{0x02, 0x16, 0x00, 0x00}},
		{"unknown type", []byte{0x03, 0x03, 0x00}},
		{"reserved type 0xFF", []byte{0x02, 0xff}},
		{"3-octet length lies", []byte{0x01, 0xff, 0xff, 0x0c, 0x00}},
		{"encapsulated garbage", []byte{0x05, 0xfe, 0x00, 0xab, 0xcd, 0x01, 0x04}},
		{"64 KiB of noise", noise},
	}
}

// TestMalformedDatagrams: malformed datagrams interleaved with a healthy
// client's traffic, from another address and from the client's own: each
// is counted and dropped, the healthy client is unaffected and the
// gateway keeps running.
func TestMalformedDatagrams(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		sub := bridgetest.Subscribe(t, e.url, "healthy/#", 1)
		healthy, attacker := newRaw(t, e.gw.Addr), newRaw(t, e.gw.Addr)
		healthy.connect("healthy-"+e.mode, true, 60)
		id := healthy.register("healthy/t", 1)
		bad := malformedDatagrams(t)
		for i, d := range bad {
			attacker.sendBytes(d.b)
			healthy.sendBytes(d.b)
			msgID := uint16(10 + i)
			healthy.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
				Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: msgID, Data: []byte(d.name),
			}})
			if pa := healthy.expect(mqttsn.TypePuback).Puback; pa.MsgID != msgID || pa.ReturnCode != mqttsn.Accepted {
				t.Fatalf("after %s: PUBACK %+v", d.name, pa)
			}
			expectMQTT(t, sub, "healthy/t", d.name)
		}
		healthy.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
		healthy.expect(mqttsn.TypePingresp)
		attacker.nothing(quiet)
		if s := e.gw.Stats(); s.Malformed != uint64(2*len(bad)) || s.Sessions != 1 {
			t.Errorf("stats: Malformed %d, Sessions %d; want %d, 1", s.Malformed, s.Sessions, 2*len(bad))
		}
	})
}
