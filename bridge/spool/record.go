package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// FormatVersion tags the on-disk layout. A change to the layout or to the
// record encoding changes it, and [Open] refuses files of another version.
const FormatVersion = "snbridge-spool/1"

// recordVersion is the first octet of every encoded message.
const recordVersion = 1

// Message is one uplink MQTT message held for a client.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // 0, 1 or 2
	Retain  bool
	Time    time.Time // when it was spooled
}

// Entry is a spooled message with its place in the spool.
type Entry struct {
	Seq    uint64 // global, increasing: later appends have larger Seq
	Client string
	Message
}

var errBadRecord = errors.New("spool: damaged record")

// encodeMessage lays out a message as
//
//	version(1) flags(1: qos bits 1-0, retain bit 2) unix-nanos(8) topic-len(uvarint) topic payload
func encodeMessage(m *Message) []byte {
	b := make([]byte, 0, 2+8+binary.MaxVarintLen32+len(m.Topic)+len(m.Payload))
	flags := m.QoS & 0x03
	if m.Retain {
		flags |= 0x04
	}
	b = append(b, recordVersion, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(m.Topic)))
	b = append(b, m.Topic...)
	return append(b, m.Payload...)
}

func decodeMessage(b []byte) (Message, error) {
	var m Message
	if len(b) < 10 || b[0] != recordVersion {
		return m, fmt.Errorf("%w: bad header", errBadRecord)
	}
	m.QoS = b[1] & 0x03
	m.Retain = b[1]&0x04 != 0
	m.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10])))
	n, k := binary.Uvarint(b[10:])
	if k <= 0 || uint64(len(b)-10-k) < n {
		return m, fmt.Errorf("%w: bad topic length", errBadRecord)
	}
	off := 10 + k
	m.Topic = string(b[off : off+int(n)])
	m.Payload = append([]byte(nil), b[off+int(n):]...)
	return m, nil
}

// index records live in the "order" bucket: unix-nanos(8) size(4) client.
func encodeIndex(t time.Time, size int, client string) []byte {
	b := make([]byte, 0, 12+len(client))
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	return append(b, client...)
}

func decodeIndex(b []byte) (t time.Time, size int, client string, err error) {
	if len(b) < 12 {
		return t, 0, "", fmt.Errorf("%w: short index record", errBadRecord)
	}
	t = time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	return t, int(binary.BigEndian.Uint32(b[8:12])), string(b[12:]), nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }
