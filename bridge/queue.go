package bridge

import "sync"

// upKind selects the meaning of an [upEvent].
type upKind uint8

const (
	upOpened       upKind = iota + 1 // Open of a client session finished
	upPublished                      // Publish of a client session finished
	upSubscribed                     // Subscribe finished
	upUnsubscribed                   // Unsubscribe finished
	upMessage                        // a delivery for a client
	upWillDone                       // a will publish finished
	upGwOpened                       // Open of the gateway's own session finished
)

// upEvent is what an upstream callback hands to the loop.
type upEvent struct {
	kind    upKind
	gen     uint32
	msgID   uint16
	granted byte
	c       *client
	sess    Session
	err     error
	msg     Message
}

// eventQueue carries upstream callbacks to the loop. Pushing never
// blocks: completions are always accepted (at most one per operation in
// flight), deliveries are refused beyond max.
type eventQueue struct {
	mu     sync.Mutex
	items  []upEvent
	spare  []upEvent
	msgs   int // deliveries in items
	max    int
	notify chan struct{} // capacity 1: "items is not empty"
}

func (q *eventQueue) init(max int) {
	q.max = max
	q.notify = make(chan struct{}, 1)
}

// push appends a completion.
func (q *eventQueue) push(e upEvent) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	q.wake()
}

// pushMessage appends a delivery unless max deliveries are waiting.
func (q *eventQueue) pushMessage(e upEvent) bool {
	q.mu.Lock()
	if q.msgs >= q.max {
		q.mu.Unlock()
		return false
	}
	q.msgs++
	q.items = append(q.items, e)
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *eventQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns everything queued; the caller hands the slice back with
// recycle once done with it.
func (q *eventQueue) take() []upEvent {
	q.mu.Lock()
	items := q.items
	q.items = q.spare[:0]
	q.spare = nil
	q.msgs = 0
	q.mu.Unlock()
	return items
}

func (q *eventQueue) recycle(items []upEvent) {
	clear(items) // drop references to payloads and sessions
	q.mu.Lock()
	if q.spare == nil {
		q.spare = items[:0]
	}
	q.mu.Unlock()
}
