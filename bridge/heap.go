package bridge

import (
	"container/heap"
	"time"

	"github.com/snbridge/snbridge/mqttsn/session"
)

// deadlineHeap orders the sessions that have a deadline by it, earliest
// first; each client knows its index (hidx, -1 when absent).
type deadlineHeap []*client

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}
func (h *deadlineHeap) Push(x any) {
	c := x.(*client)
	c.hidx = len(*h)
	*h = append(*h, c)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	n := len(old) - 1
	c := old[n]
	old[n] = nil
	*h = old[:n]
	c.hidx = -1
	return c
}

// schedule puts c in the heap at its session's NextDeadline, or takes it
// out when it has none.
func (g *Gateway) schedule(c *client) {
	d := c.s.NextDeadline()
	switch {
	case d.IsZero() || c.dropped:
		if c.hidx >= 0 {
			heap.Remove(&g.timers, c.hidx)
		}
	case c.hidx >= 0:
		if !d.Equal(c.deadline) {
			c.deadline = d
			heap.Fix(&g.timers, c.hidx)
		}
	default:
		c.deadline = d
		heap.Push(&g.timers, c)
	}
}

// armTimer makes the timer fire no later than the earliest deadline. A
// timer set for a deadline that has since moved later fires early; tick
// then finds nothing due and the timer is set again.
func (g *Gateway) armTimer() {
	if len(g.timers) == 0 {
		return
	}
	next := g.timers[0].deadline
	if !g.timerAt.IsZero() && !next.Before(g.timerAt) {
		return
	}
	g.timerAt = next
	g.timer.Reset(time.Until(next))
}

// tick steps every session whose deadline has come.
func (g *Gateway) tick() {
	now := time.Now()
	due := g.due[:0]
	for len(g.timers) > 0 && !g.timers[0].deadline.After(now) {
		due = append(due, heap.Pop(&g.timers).(*client))
	}
	for _, c := range due {
		if c.dropped {
			continue
		}
		g.step(c, now, session.Event{Kind: session.EvTick})
		// A session must move its deadline past now; if it did not, wait
		// a little rather than spin.
		if c.hidx >= 0 && !c.deadline.After(now) {
			c.deadline = now.Add(minTickGap)
			heap.Fix(&g.timers, c.hidx)
		}
	}
	clear(due)
	g.due = due[:0]
}

const minTickGap = 10 * time.Millisecond
