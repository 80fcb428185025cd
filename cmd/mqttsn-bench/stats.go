package main

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// headerLen is the bench header at the start of every payload:
// send time (unix ns, 8 octets), source index (4), sequence number (4).
const headerLen = 16

// putHeader writes the bench header into p (len(p) >= headerLen).
func putHeader(p []byte, src, seq uint32, now time.Time) {
	binary.BigEndian.PutUint64(p[0:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint32(p[8:], src)
	binary.BigEndian.PutUint32(p[12:], seq)
}

// parseHeader reads the bench header; ok is false for a payload that is
// not the bench's.
func parseHeader(p []byte) (sent int64, src, seq uint32, ok bool) {
	if len(p) < headerLen {
		return 0, 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p[0:])), binary.BigEndian.Uint32(p[8:]), binary.BigEndian.Uint32(p[12:]), true
}

// tracker counts deliveries: per source, which sequence numbers arrived
// (a bitset, for duplicates and loss), the highest so far (for order),
// and every latency. It is safe for concurrent use.
type tracker struct {
	delivered atomic.Int64 // unique deliveries, read by the progress line

	mu       sync.Mutex
	seen     [][]uint64 // per source: bitset of sequence numbers
	next     []uint32   // per source: highest sequence seen + 1
	dups     int64
	ooo      int64
	foreign  int64    // payloads without a valid header or source
	lat      []uint32 // latencies in microseconds
	lastRecv time.Time
}

func newTracker(sources int) *tracker {
	return &tracker{seen: make([][]uint64, sources), next: make([]uint32, sources), lat: make([]uint32, 0, 1<<16)}
}

// record accounts one delivery of payload at now.
func (t *tracker) record(payload []byte, now time.Time) {
	sent, src, seq, ok := parseHeader(payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || int(src) >= len(t.seen) {
		t.foreign++
		return
	}
	t.recordLocked(src, seq, now.UnixNano()-sent)
	t.lastRecv = now
}

// recordFor accounts a delivery whose source is the receiver (fanout:
// one sequence space per sensor).
func (t *tracker) recordFor(receiver uint32, payload []byte, now time.Time) {
	sent, _, seq, ok := parseHeader(payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || int(receiver) >= len(t.seen) {
		t.foreign++
		return
	}
	t.recordLocked(receiver, seq, now.UnixNano()-sent)
	t.lastRecv = now
}

func (t *tracker) recordLocked(src, seq uint32, latNs int64) {
	bits := t.seen[src]
	w := int(seq / 64)
	if w >= len(bits) {
		bits = append(bits, make([]uint64, w-len(bits)+1+len(bits)/2)...)
		t.seen[src] = bits
	}
	mask := uint64(1) << (seq % 64)
	if bits[w]&mask != 0 {
		t.dups++
		return
	}
	bits[w] |= mask
	if seq+1 < t.next[src] {
		t.ooo++
	} else {
		t.next[src] = seq + 1
	}
	t.delivered.Add(1)
	if latNs < 0 {
		latNs = 0
	}
	t.lat = append(t.lat, uint32(min(latNs/1000, 1<<32-1)))
}

// Latency is the latency summary of a report, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// snapshot returns the counts and the latency percentiles.
func (t *tracker) snapshot() (delivered, dups, ooo, foreign int64, lat Latency, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := slices.Clone(t.lat)
	slices.Sort(l)
	pct := func(p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		i := int(p * float64(len(l)-1))
		return float64(l[i]) / 1000
	}
	lat = Latency{P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1)}
	return t.delivered.Load(), t.dups, t.ooo, t.foreign, lat, t.lastRecv
}
