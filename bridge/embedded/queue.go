package embedded

import (
	"context"

	"github.com/snbridge/snbridge/bridge"
)

type opKind uint8

const (
	opOpen opKind = iota
	opPublish
	opSubscribe
	opUnsubscribe
	opClose
	opDeliver
)

// item is one queued operation or delivery. Items are kept by value in the
// queue so that queuing allocates nothing once the queue has grown.
type item struct {
	kind    opKind
	h       *handle // session operations
	sub     *sub    // opDeliver
	msg     bridge.Message
	filter  string
	qos     byte
	discard bool
	info    bridge.ClientInfo
	deliver func(bridge.Message)

	doneOpen  func(bridge.Session, error)
	doneErr   func(error)
	doneSub   func(byte, error)
	doneClose func()
}

// fail completes the item's operation with err (a delivery is dropped).
func (it *item) fail(err error) {
	switch it.kind {
	case opOpen:
		it.doneOpen(nil, err)
	case opPublish, opUnsubscribe:
		it.doneErr(err)
	case opSubscribe:
		it.doneSub(0x80, err)
	case opClose:
		it.doneClose()
	}
}

// enqueue queues an operation for the worker. After Run has returned it
// fails the operation on the caller's goroutine.
func (b *Broker) enqueue(it item) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		it.fail(ErrClosed)
		return
	}
	b.queue = append(b.queue, it)
	b.mu.Unlock()
	b.signal()
}

// enqueueDelivery queues a message for a subscription's session. It is
// called from mochi's goroutines and never blocks; over the limit the
// message is dropped and counted.
func (b *Broker) enqueueDelivery(s *sub, m bridge.Message) {
	b.mu.Lock()
	if b.stopped || b.queued >= b.cfg.MaxQueued {
		b.mu.Unlock()
		if n := b.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			b.log.Warn().Str("topic", m.Topic).Uint64("dropped", n).Msg("delivery queue full, message dropped")
		}
		return
	}
	b.queue = append(b.queue, item{kind: opDeliver, sub: s, msg: m})
	b.queued++
	b.mu.Unlock()
	b.signal()
}

func (b *Broker) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// work runs queued items until ctx is done. Two slices are swapped so the
// lock is held only for the swap.
func (b *Broker) work(ctx context.Context) {
	var batch []item
	for ctx.Err() == nil {
		b.mu.Lock()
		batch, b.queue = b.queue, batch[:0]
		b.queued = 0
		b.mu.Unlock()
		for i := range batch {
			b.exec(&batch[i])
			batch[i] = item{} // drop references
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-b.wake:
		}
	}
}

func (b *Broker) exec(it *item) {
	switch it.kind {
	case opOpen:
		b.open(it.info, it.deliver, it.doneOpen)
	case opDeliver:
		b.deliver(it.sub, it.msg, false)
	default:
		if it.h.closed {
			it.fail(ErrSessionClosed)
			return
		}
		switch it.kind {
		case opPublish:
			it.doneErr(b.publish(it.msg))
		case opSubscribe:
			b.subscribe(it.h, it.filter, it.qos, it.doneSub)
		case opUnsubscribe:
			b.unsubscribe(it.h.c, it.filter)
			it.doneErr(nil)
		case opClose:
			b.close(it.h, it.discard)
			it.doneClose()
		}
	}
}
