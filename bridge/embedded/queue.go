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
)

// item is one queued operation. Items are kept by value in the
// queue so that queuing allocates nothing once the queue has grown.
type item struct {
	kind    opKind
	h       *handle // session operations
	msg     bridge.Message
	filter  string
	qos     byte
	discard bool
	info    bridge.ClientInfo
	deliver func(bridge.Message)
	done    bridge.Completion
}

// opChunk is how many operations the worker runs before it hands out the
// deliveries they caused: a burst of publishes must not fill the bounded
// delivery queue before the worker gets to empty it.
const opChunk = 64

// delivery is a message for a subscription's session.
type delivery struct {
	sub *sub
	msg bridge.Message
}

// enqueue queues an operation for the worker. After Run has returned it
// fails the operation on the caller's goroutine.
func (b *Broker) enqueue(it item) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		it.done.Fail(ErrClosed)
		return
	}
	b.ops = append(b.ops, it)
	b.mu.Unlock()
	b.signal()
}

// enqueueDelivery queues a message for a subscription's session. It is
// called from mochi's goroutines and never blocks; over the limit the
// message is dropped and counted.
func (b *Broker) enqueueDelivery(s *sub, m bridge.Message) {
	b.mu.Lock()
	if b.stopped || len(b.dels) >= b.cfg.MaxQueued {
		b.mu.Unlock()
		if n := b.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			b.log.Warn().Str("topic", m.Topic).Uint64("dropped", n).Msg("delivery queue full, message dropped")
		}
		return
	}
	b.dels = append(b.dels, delivery{sub: s, msg: m})
	b.mu.Unlock()
	b.signal()
}

func (b *Broker) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// work runs queued deliveries and operations until ctx is done. The lock
// is held only to take them out.
func (b *Broker) work(ctx context.Context) {
	var dels []delivery
	var ops []item
	for ctx.Err() == nil {
		b.mu.Lock()
		dels, b.dels = b.dels, dels[:0]
		n := min(opChunk, len(b.ops)-b.opsHead)
		ops = append(ops[:0], b.ops[b.opsHead:b.opsHead+n]...)
		clear(b.ops[b.opsHead : b.opsHead+n])
		if b.opsHead += n; b.opsHead == len(b.ops) {
			b.ops, b.opsHead = b.ops[:0], 0
		}
		b.mu.Unlock()
		for i := range dels {
			b.deliver(dels[i].sub, dels[i].msg, false)
		}
		clear(dels)
		for i := range ops {
			b.exec(&ops[i])
		}
		clear(ops)
		if len(dels)+len(ops) > 0 {
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
		b.open(it.info, it.deliver, it.done.Open)
	default:
		if it.h.closed {
			it.done.Fail(ErrSessionClosed)
			return
		}
		switch it.kind {
		case opPublish:
			it.done.Err(b.publish(it.msg))
		case opSubscribe:
			b.subscribe(it.h, it.filter, it.qos, it.done.Sub)
		case opUnsubscribe:
			b.unsubscribe(it.h.c, it.filter)
			it.done.Err(nil)
		case opClose:
			b.close(it.h, it.discard)
			it.done.Close()
		}
	}
}
