package failover

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestCompleterOrder finishes operations in random order from several
// goroutines: the completions run in issue order, each once, never two
// at a time.
func TestCompleterOrder(t *testing.T) {
	var c completer
	const n = 1000
	var mu sync.Mutex
	var got []int
	var running, overlap int
	slots := make([]*slot, n)
	for i := range slots {
		slots[i] = c.add(func(error) {
			mu.Lock()
			running++
			if running > 1 {
				overlap++
			}
			got = append(got, i)
			running--
			mu.Unlock()
		})
	}
	order := rand.Perm(n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for j := w; j < n; j += 4 {
				slots[order[j]].finishErr(nil)
			}
		})
	}
	wg.Wait()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Errorf("completions out of issue order: %v", got[:min(len(got), 20)])
	}
	if overlap > 0 {
		t.Errorf("%d completions ran concurrently", overlap)
	}
}

// TestChain runs control operations one after another, also when one
// finishes on another goroutine.
func TestChain(t *testing.T) {
	var c chain
	var got []int
	done := make(chan struct{})
	release := make(chan struct{})
	c.do(func(next func()) {
		got = append(got, 1)
		go func() {
			<-release
			next()
		}()
	})
	c.do(func(next func()) { got = append(got, 2); next() })
	c.do(func(next func()) { got = append(got, 3); next(); close(done) })
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("chain stalled")
	}
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("ran %v, want [1 2 3]", got)
	}
}

// TestRateLimit checks the pacing arithmetic with an explicit clock.
func TestRateLimit(t *testing.T) {
	var r rateLimit
	r.init(10) // one per 100 ms, burst 100 ms
	now := time.Unix(1000, 0)
	sent := 0
	for r.wait(now) == 0 {
		r.spend(now)
		sent++
	}
	if sent != 2 {
		t.Errorf("burst of %d messages at once, want 2", sent)
	}
	if w := r.wait(now); w != 100*time.Millisecond {
		t.Errorf("wait %v, want 100ms", w)
	}
	now = now.Add(10 * time.Second) // idle: the burst does not grow
	sent = 0
	for r.wait(now) == 0 {
		r.spend(now)
		sent++
	}
	if sent != 2 {
		t.Errorf("after idling, burst of %d, want 2", sent)
	}
	var unlimited rateLimit
	unlimited.init(0)
	if w := unlimited.wait(now); w != 0 {
		t.Errorf("unlimited: wait %v", w)
	}
}
