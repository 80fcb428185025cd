package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// appendMany appends n small messages without waiting between them (so
// that they share group commits) and returns how many were refused.
func appendMany(t *testing.T, s *Spool, n int) (refused int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		s.Append(fmt.Sprint("sensor-", i%8), Message{Topic: "site/t", Payload: []byte("0123456789abcdefghij"), QoS: 1},
			func(_ Entry, err error) {
				if err != nil {
					if !errors.Is(err, ErrFull) {
						t.Errorf("append: %v", err)
					}
					mu.Lock()
					refused++
					mu.Unlock()
				}
				wg.Done()
			})
	}
	wg.Wait()
	return refused
}

// Regression: a hidden cap on the file (4x MaxBytes) was reached before
// the logical bound with small messages, so drop-oldest rejected instead
// of dropping and reject refused far below spool_max_bytes.
func TestDropOldestNeverRejectsSmallMessages(t *testing.T) {
	const max = 2 << 20
	s := startSpool(t, Config{MaxBytes: max, Overflow: DropOldest})
	cost := entryCost(len(encodeMessage(&Message{Topic: "site/t", Payload: make([]byte, 20)})), "sensor-0")
	n := int(max/cost) * 3 / 2
	if refused := appendMany(t, s, n); refused != 0 {
		t.Fatalf("%d of %d appends refused under drop-oldest", refused, n)
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Bytes > max || st.Bytes < max*9/10 {
		t.Errorf("stats = %+v: want drops, and between 90%% and 100%% of %d bytes used", st, max)
	}
}

func TestRejectFillsToTheBound(t *testing.T) {
	const max = 2 << 20
	s := startSpool(t, Config{MaxBytes: max, Overflow: Reject})
	cost := entryCost(len(encodeMessage(&Message{Topic: "site/t", Payload: make([]byte, 20)})), "sensor-0")
	n := int(max/cost) * 3 / 2
	refused := appendMany(t, s, n)
	st := s.Stats()
	if refused == 0 || st.Bytes < max*9/10 || st.Bytes > max || st.Dropped != 0 {
		t.Errorf("refused %d, stats = %+v: want refusals only past 90%% of %d bytes", refused, st, max)
	}
	// spool_max_bytes follows the disk: the file stays within a small
	// multiple of the bound.
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 3*max {
		t.Errorf("file is %d bytes for a bound of %d", fi.Size(), max)
	}
}

// MaxFileBytes stands in for a full disk: both are the same error path.
func TestFullFileRejectsUnderReject(t *testing.T) {
	s := startSpool(t, Config{MaxBytes: 64 << 20, MaxFileBytes: 1 << 20, Overflow: Reject})
	refused := appendMany(t, s, 15000)
	if refused == 0 {
		t.Fatal("no append refused on a full file")
	}
	st := s.Stats()
	if st.Rejected != uint64(refused) || st.Dropped != 0 {
		t.Errorf("stats = %+v, refused %d", st, refused)
	}
	// Room again once messages are removed (as replay does): a tenth of
	// the spool.
	var es []Entry
	for _, c := range s.Clients() {
		more, _ := s.Next(c, 0, s.Stats().Messages/10/len(s.Clients()))
		es = append(es, more...)
	}
	var wg sync.WaitGroup
	for _, e := range es {
		wg.Add(1)
		s.Remove(e.Client, e.Seq, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if _, err := appendWait(t, s, "late", msg("t", "x", 1)); err != nil {
		t.Errorf("append after freeing space: %v", err)
	}
}

func TestFullFileMakesRoomUnderDropOldest(t *testing.T) {
	s := startSpool(t, Config{MaxBytes: 64 << 20, MaxFileBytes: 4 << 20, Overflow: DropOldest})
	n := 60000
	refused := appendMany(t, s, n)
	st := s.Stats()
	if st.Dropped == 0 {
		t.Fatalf("stats = %+v: want the oldest dropped to make room", st)
	}
	t.Logf("refused %d of %d, stats %+v", refused, n, st)
	if refused > n/100 {
		t.Errorf("%d of %d appends refused under drop-oldest on a full file", refused, n)
	}
	// The newest message is kept.
	var newest uint64
	for _, c := range s.Clients() {
		es, _ := s.Next(c, 0, n)
		for _, e := range es {
			newest = max(newest, e.Seq)
		}
	}
	if newest < uint64(n-refused) {
		t.Errorf("newest kept seq = %d, want about %d", newest, n)
	}
}

func TestOpenExpiresOldMessages(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	path := filepath.Join(t.TempDir(), "spool.db")
	func() {
		s, err := Open(Config{Path: path, MaxBytes: 1 << 20, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		appendWait(t, s, "a", Message{Topic: "old", Payload: []byte("1"), QoS: 1})
		cancel()
		<-done
		s.Close()
	}()
	clock.Add(2 * time.Hour)
	s := startSpool(t, Config{Path: path, MaxAge: time.Hour, Now: clock.Now})
	if st := s.Stats(); st.Messages != 0 || st.Expired != 1 {
		t.Errorf("after reopen: stats = %+v, want the old message expired at Open", st)
	}
}

func TestRunExpiresPeriodically(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	s := startSpool(t, Config{MaxAge: time.Hour, Now: clock.Now, ExpireEvery: time.Millisecond})
	appendWait(t, s, "a", Message{Topic: "old", Payload: []byte("1"), QoS: 1})
	clock.Add(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Expired == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v: Run did not expire the old message", s.Stats())
		}
		// Appends go through Run too: each one lets a tick in between.
		appendWait(t, s, "b", Message{Topic: "new", Payload: []byte("2"), QoS: 1, Time: clock.Now()})
	}
}

// Regression: a request queued after shutdown's drain was never answered.
func TestAppendsRacingShutdownAreAllAnswered(t *testing.T) {
	for range 20 {
		s, err := Open(Config{Path: filepath.Join(t.TempDir(), "s.db"), MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { defer close(ran); s.Run(ctx) }()
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for i := range 50 {
					ch := make(chan error, 1)
					s.Append(fmt.Sprint("c", c), msg("t", fmt.Sprint(i), 1), func(_ Entry, err error) { ch <- err })
					select {
					case err := <-ch:
						if err != nil && !errors.Is(err, ErrClosed) {
							t.Error(err)
						}
					case <-time.After(10 * time.Second):
						t.Error("append never answered")
						return
					}
				}
			})
		}
		cancel()
		wg.Wait()
		<-ran
		s.Close()
	}
}
