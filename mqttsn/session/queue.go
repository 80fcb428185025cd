package session

import "github.com/snbridge/snbridge/mqttsn"

// message is one broker message waiting for delivery to the client. Its
// QoS is already capped at what the client was granted.
type message struct {
	Topic   string
	Payload []byte // owned by the session (see Event.Payload)
	QoS     mqttsn.QoS
	Retain  bool
}

// ring is the FIFO of messages towards the client: the sleep buffer while
// the client sleeps and the delivery queue while it is active; it is one
// queue so that the order never changes between the two. It grows on
// demand; the bound is enforced by the caller (push with a limit).
type ring struct {
	buf  []message
	head int
	n    int
}

func (q *ring) len() int { return q.n }

// at returns the i-th message from the front.
func (q *ring) at(i int) *message { return &q.buf[(q.head+i)%len(q.buf)] }

func (q *ring) pushBack(m message) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = m
	q.n++
}

// pushFront puts m before every queued message.
func (q *ring) pushFront(m message) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = m
	q.n++
}

func (q *ring) popFront() (message, bool) {
	if q.n == 0 {
		return message{}, false
	}
	m := q.buf[q.head]
	q.buf[q.head] = message{} // release the payload
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return m, true
}

func (q *ring) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 4
	}
	buf := make([]message, size)
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// clear empties the queue and returns how many messages it held.
func (q *ring) clear() int {
	n := q.n
	clear(q.buf)
	q.head, q.n = 0, 0
	if cap(q.buf) > 64 {
		q.buf = nil // give a large burst's memory back
	}
	return n
}
