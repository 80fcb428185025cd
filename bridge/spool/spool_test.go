package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge/boltfile/boltfiletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is an injected clock for age tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startSpool opens a spool in a temp dir and runs it until the test ends.
func startSpool(t testing.TB, cfg Config) *Spool {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "spool.db")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 1 << 20
	}
	if tt, ok := t.(*testing.T); ok {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(tt))
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func appendWait(t testing.TB, s *Spool, client string, m Message) (Entry, error) {
	t.Helper()
	type result struct {
		e   Entry
		err error
	}
	ch := make(chan result, 1)
	s.Append(client, m, func(e Entry, err error) { ch <- result{e, err} })
	select {
	case r := <-ch:
		return r.e, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("append not answered")
		return Entry{}, nil
	}
}

func removeWait(t testing.TB, s *Spool, client string, seq uint64) {
	t.Helper()
	ch := make(chan error, 1)
	s.Remove(client, seq, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatalf("Remove(%s, %d): %v", client, seq, err)
	}
}

func msg(topic, payload string, qos byte) Message {
	return Message{Topic: topic, Payload: []byte(payload), QoS: qos, Time: time.Unix(1700000000, 0)}
}

func topicsOf(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Topic+"="+string(e.Payload))
	}
	return out
}

func TestAppendNextRemoveKeepsPerClientOrder(t *testing.T) {
	s := startSpool(t, Config{})
	for i := range 5 {
		for _, c := range []string{"a", "b"} {
			if _, err := appendWait(t, s, c, msg("t/"+c, fmt.Sprint(i), 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.Next("a", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t/a=0", "t/a=1", "t/a=2", "t/a=3", "t/a=4"}
	if d := cmp.Diff(want, topicsOf(got)); d != "" {
		t.Fatalf("Next(a) mismatch (-want +got):\n%s", d)
	}
	if got[0].QoS != 1 || got[0].Client != "a" {
		t.Errorf("entry = %+v", got[0])
	}
	removeWait(t, s, "a", got[0].Seq)
	removeWait(t, s, "a", got[1].Seq)
	rest, _ := s.Next("a", 0, 2)
	if d := cmp.Diff(want[2:4], topicsOf(rest)); d != "" {
		t.Errorf("after remove (-want +got):\n%s", d)
	}
	after, _ := s.Next("a", rest[0].Seq, 100)
	if d := cmp.Diff(want[3:], topicsOf(after)); d != "" {
		t.Errorf("Next after seq (-want +got):\n%s", d)
	}
	if s.Len("a") != 3 || s.Len("b") != 5 {
		t.Errorf("Len a=%d b=%d, want 3 and 5", s.Len("a"), s.Len("b"))
	}
	if d := cmp.Diff([]string{"a", "b"}, s.Clients()); d != "" {
		t.Errorf("Clients (-want +got):\n%s", d)
	}
	st := s.Stats()
	if st.Appended != 10 || st.Removed != 2 || st.Messages != 8 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRemoveOfGoneEntryIsNoError(t *testing.T) {
	s := startSpool(t, Config{})
	e, _ := appendWait(t, s, "a", msg("x", "1", 1))
	removeWait(t, s, "a", e.Seq)
	removeWait(t, s, "a", e.Seq)
	removeWait(t, s, "b", 12345)
	if st := s.Stats(); st.Removed != 1 || st.Messages != 0 || st.Bytes != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestReopenRestoresEntriesAndSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	var lastSeq uint64
	func() {
		s, err := Open(Config{Path: path, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		for i := range 3 {
			e, err := appendWait(t, s, "sensor-1", msg("a/b", fmt.Sprint(i), 2))
			if err != nil {
				t.Fatal(err)
			}
			lastSeq = e.Seq
		}
		cancel()
		<-done
		s.Close()
	}()
	s := startSpool(t, Config{Path: path})
	got, err := s.Next("sensor-1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a/b=0", "a/b=1", "a/b=2"}, topicsOf(got)); d != "" {
		t.Fatalf("after reopen (-want +got):\n%s", d)
	}
	e, _ := appendWait(t, s, "sensor-1", msg("a/b", "3", 1))
	if e.Seq <= lastSeq {
		t.Errorf("seq after reopen = %d, want > %d", e.Seq, lastSeq)
	}
	if st := s.Stats(); st.Messages != 4 {
		t.Errorf("Messages = %d, want 4", st.Messages)
	}
}

func TestRejectPolicyRefusesWhenFull(t *testing.T) {
	one := entryCost(len(encodeMessage(&Message{Topic: "t", Payload: []byte("0123456789")})), "a")
	s := startSpool(t, Config{MaxBytes: 3 * one, Overflow: Reject})
	for i := range 3 {
		if _, err := appendWait(t, s, "a", msg("t", "0123456789", 1)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if _, err := appendWait(t, s, "a", msg("t", "0123456789", 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("4th append err = %v, want ErrFull", err)
	}
	if st := s.Stats(); st.Rejected != 1 || st.Messages != 3 {
		t.Errorf("stats = %+v", st)
	}
	// Room again after a removal.
	first, _ := s.Next("a", 0, 1)
	removeWait(t, s, "a", first[0].Seq)
	if _, err := appendWait(t, s, "a", msg("t", "0123456789", 1)); err != nil {
		t.Fatalf("append after remove: %v", err)
	}
}

func TestDropOldestKeepsNewest(t *testing.T) {
	one := entryCost(len(encodeMessage(&Message{Topic: "t", Payload: []byte("00")})), "a")
	s := startSpool(t, Config{MaxBytes: 3 * one, Overflow: DropOldest})
	for i := range 5 {
		client := []string{"a", "b"}[i%2]
		if _, err := appendWait(t, s, client, msg("t", fmt.Sprintf("%02d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for _, c := range s.Clients() {
		es, _ := s.Next(c, 0, 10)
		all = append(all, topicsOf(es)...)
	}
	// a had 00 02 04, b had 01 03; the two oldest (00, 01) were dropped.
	if d := cmp.Diff([]string{"t=02", "t=04", "t=03"}, all); d != "" {
		t.Errorf("kept (-want +got):\n%s", d)
	}
	if st := s.Stats(); st.Dropped != 2 || st.Messages != 3 || st.Rejected != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMessageLargerThanSpoolIsRefused(t *testing.T) {
	s := startSpool(t, Config{MaxBytes: 16, Overflow: DropOldest})
	_, err := appendWait(t, s, "a", msg("t", strings.Repeat("x", 64), 1))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
}

func TestExpireDropsOldMessages(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	s := startSpool(t, Config{MaxAge: time.Hour, Now: clock.Now})
	appendWait(t, s, "a", Message{Topic: "old", Payload: []byte("1"), QoS: 1})
	clock.Add(50 * time.Minute)
	appendWait(t, s, "a", Message{Topic: "new", Payload: []byte("2"), QoS: 1})
	clock.Add(20 * time.Minute)
	if err := s.Expire(); err != nil {
		t.Fatal(err)
	}
	es, _ := s.Next("a", 0, 10)
	if d := cmp.Diff([]string{"new=2"}, topicsOf(es)); d != "" {
		t.Errorf("after expire (-want +got):\n%s", d)
	}
	if st := s.Stats(); st.Expired != 1 || st.Messages != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestOpenRejectsOtherFormatVersion(t *testing.T) {
	bad := boltfiletest.MakeBad(t, fileFormat, "snbridge-spool/99")
	_, err := Open(Config{Path: bad.OtherTag, MaxBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), `format "snbridge-spool/99", this build reads "snbridge-spool/1"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenReportsDamagedFile(t *testing.T) {
	bad := boltfiletest.MakeBad(t, fileFormat, "")
	_, err := Open(Config{Path: bad.Damaged, MaxBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "damaged or not a spool: move it away") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(bad.Damaged); len(b) != 15000 {
		t.Errorf("damaged file was modified (len %d)", len(b))
	}
}

// A bbolt file of another program (buckets, no tag) is refused, not
// written into.
func TestOpenRefusesForeignFile(t *testing.T) {
	bad := boltfiletest.MakeBad(t, fileFormat, "")
	_, err := Open(Config{Path: bad.Foreign, MaxBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "no format tag: not a spool") || !strings.Contains(err.Error(), "move the file away") {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentAppendsAllAnswered(t *testing.T) {
	s := startSpool(t, Config{MaxBytes: 64 << 20})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := appendWait(t, s, fmt.Sprint("c", c), msg("t", fmt.Sprint(i), 1)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for c := range 8 {
		es, _ := s.Next(fmt.Sprint("c", c), 0, 100)
		for i, e := range es {
			if string(e.Payload) != fmt.Sprint(i) {
				t.Fatalf("client c%d entry %d = %q: order broken", c, i, e.Payload)
			}
		}
	}
	if st := s.Stats(); st.Messages != 400 {
		t.Errorf("Messages = %d, want 400", st.Messages)
	}
}

func TestRequestsAfterShutdownFail(t *testing.T) {
	s, err := Open(Config{Path: filepath.Join(t.TempDir(), "s.db"), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Run(ctx)
	defer s.Close()
	if _, err := appendWait(t, s, "a", msg("t", "x", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := Message{Topic: "a/β", Payload: []byte{0, 1, 0xFF}, QoS: 2, Retain: true, Time: time.Unix(0, 1234567890)}
	got, err := decodeMessage(encodeMessage(&m))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 'a'}} {
		if _, err := decodeMessage(bad); !errors.Is(err, errBadRecord) {
			t.Errorf("decode(%x) err = %v", bad, err)
		}
	}
}

// BenchmarkAppendSync measures durable appends: each message is synced to
// disk before its callback runs; parallel appenders share group commits.
func BenchmarkAppendSync(b *testing.B) {
	s := startSpool(b, Config{MaxBytes: 1 << 30})
	payload := make([]byte, 32)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		ch := make(chan error, 1)
		for pb.Next() {
			s.Append("bench", Message{Topic: "site/sensor/temp", Payload: payload, QoS: 1}, func(_ Entry, err error) { ch <- err })
			if err := <-ch; err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReplayRead measures reading spooled messages back in order.
func BenchmarkReplayRead(b *testing.B) {
	s := startSpool(b, Config{MaxBytes: 1 << 30})
	done := make(chan error, 1000)
	for range 1000 {
		s.Append("bench", Message{Topic: "site/sensor/temp", Payload: make([]byte, 32), QoS: 1}, func(_ Entry, err error) { done <- err })
	}
	for range 1000 {
		<-done
	}
	b.ReportAllocs()
	for b.Loop() {
		es, err := s.Next("bench", 0, 1000)
		if err != nil || len(es) != 1000 {
			b.Fatal(err, len(es))
		}
	}
}
