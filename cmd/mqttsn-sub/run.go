package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/client/cli"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2
	exitTimeout = 27 // -W expired, as mosquitto_sub
)

// requestTimeout bounds each request (CONNECT, SUBSCRIBE, PINGREQ...).
const requestTimeout = 10 * time.Second

var (
	errWExpired = errors.New("-W timeout expired")
	errGone     = errors.New("the gateway disconnected this client")
)

type options struct {
	cli.Common
	topics       []string
	predefined   []uint16
	qos          int
	count        int
	timeout      cli.Duration
	verbose      bool
	noNewline    bool
	retainedOnly bool
	format       string
	sleep        cli.Duration
	wakeEvery    cli.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	o := &options{}
	fs := flag.NewFlagSet("mqttsn-sub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Add(fs, fmt.Sprintf("mqttsn-sub-%d", os.Getpid()))
	fs.Func("t", "topic `filter` to subscribe to (repeatable; + and # wildcards; exactly 2 characters = a short topic name)",
		func(s string) error { o.topics = append(o.topics, s); return nil })
	fs.Func("T", "predefined topic `id` to subscribe to (repeatable)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil || v == 0 || v == 0xFFFF {
			return fmt.Errorf("%q is not a topic id 1..65534", s)
		}
		o.predefined = append(o.predefined, uint16(v))
		return nil
	})
	fs.IntVar(&o.qos, "q", 0, "`QoS` 0, 1 or 2 of the subscriptions")
	fs.IntVar(&o.count, "C", 0, "exit after `count` messages")
	fs.Var(&o.timeout, "W", "exit (status 27) after this many `seconds`")
	fs.BoolVar(&o.verbose, "v", false, "print the topic before the payload")
	fs.BoolVar(&o.noNewline, "N", false, "no newline after each message")
	fs.BoolVar(&o.retainedOnly, "retained-only", false, "print retained messages only; exit at the first non-retained one")
	fs.StringVar(&o.format, "F", "", "output `format`: %t topic, %p payload, %x payload in hex, %q QoS, %r retain, %i topic id, %m msg id, %l length, %% a %; \\n \\t escapes")
	fs.Var(&o.sleep, "sleep", "act as a sleeping client: DISCONNECT with this `duration` after subscribing, wake with PINGREQ")
	fs.Var(&o.wakeEvery, "wake-every", "with --sleep, wake up this often (`duration`; default half the sleep duration)")
	if code, ok := cli.ParseArgs(fs, args, "mqttsn-sub", "mqttsn-sub {-t filter | -T id}... [options]",
		func() error { return o.check(fs) }, stderr); !ok {
		return nil, code
	}
	return o, -1
}

func (o *options) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(o.topics)+len(o.predefined) == 0 {
		return errors.New("give at least one -t filter or -T id")
	}
	for _, t := range o.topics {
		if err := mqttsn.ValidateTopicFilter(t); err != nil {
			return fmt.Errorf("-t %q: %w", t, err)
		}
	}
	if _, err := cli.ParseQoS(o.qos, false); err != nil {
		return err
	}
	if o.count < 0 {
		return errors.New("-C must not be negative")
	}
	if o.wakeEvery > 0 && o.sleep == 0 {
		return errors.New("--wake-every needs --sleep")
	}
	if o.sleep > 0 {
		if o.sleep < cli.Duration(time.Second) {
			return errors.New("--sleep: at least 1s (the DISCONNECT duration is in seconds)")
		}
		if o.wakeEvery == 0 {
			o.wakeEvery = o.sleep / 2
		}
		if o.wakeEvery >= o.sleep {
			return errors.New("--wake-every must be shorter than --sleep, or the gateway takes the client for lost")
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if o == nil {
		return code
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(o.timeout), errWExpired)
		defer cancel()
	}
	s := &subscriber{o: o, out: stdout, stderr: stderr, done: make(chan struct{}), gone: make(chan struct{})}
	err := s.run(ctx)
	switch {
	case errors.Is(context.Cause(ctx), errWExpired) && !s.finished():
		return exitTimeout
	case err != nil:
		fmt.Fprintf(stderr, "mqttsn-sub: %s\n", cli.Words(err))
		return exitFail
	}
	return exitOK
}

type subscriber struct {
	o      *options
	out    io.Writer
	stderr io.Writer
	c      *client.Client

	mu       sync.Mutex
	printed  int
	stopped  bool
	done     chan struct{} // closed when -C or --retained-only is satisfied
	gone     chan struct{} // closed when the gateway sends an unsolicited DISCONNECT
	goneOnce sync.Once
	outbuf   []byte
	writeErr error
}

func (s *subscriber) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *subscriber) run(ctx context.Context) error {
	tr, err := s.o.Open(ctx, zerolog.Nop())
	if err != nil {
		return err
	}
	defer tr.Wait()
	cfg, err := s.o.ClientConfig(tr, s.stderr)
	if err != nil {
		tr.Conn.Close()
		return err
	}
	// Retransmit unanswered requests twice within requestTimeout.
	// [MQTT-SN 1.2 §6.13]
	cfg.Retry, cfg.MaxRetries = requestTimeout/3, 2
	cfg.OnMessage = s.onMessage
	cfg.OnDisconnect = func(mqttsn.Disconnect) {
		s.goneOnce.Do(func() { close(s.gone) })
	}
	s.c = client.Open(tr.Conn, cfg)
	defer s.c.Close()

	if err := s.req(ctx, s.c.Connect); err != nil {
		return err
	}
	if err := s.subscribe(ctx); err != nil {
		return err
	}
	if s.o.sleep > 0 {
		err = s.sleepLoop(ctx)
	} else {
		err = s.activeLoop(ctx)
	}
	if errors.Is(err, errGone) {
		return err
	}
	// A last DISCONNECT, from active or asleep; best effort once ctx ended.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if derr := s.c.Disconnect(dctx); err == nil && ctx.Err() == nil {
		err = derr
	}
	return err
}

func (s *subscriber) req(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return f(ctx)
}

func (s *subscriber) subscribe(ctx context.Context) error {
	qos := mqttsn.QoS(s.o.qos)
	var filters []client.Filter
	for _, t := range s.o.topics {
		f := client.FilterName(t)
		if len(t) == 2 && !mqttsn.IsWildcard(t) {
			f, _ = client.FilterShort(t)
		}
		filters = append(filters, f)
	}
	for _, id := range s.o.predefined {
		filters = append(filters, client.FilterPredefined(id))
	}
	for i, f := range filters {
		err := s.req(ctx, func(ctx context.Context) error {
			_, err := s.c.Subscribe(ctx, f, qos)
			return err
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %s", s.describe(i), cli.Words(err))
		}
	}
	return nil
}

func (s *subscriber) describe(i int) string {
	if i < len(s.o.topics) {
		return strconv.Quote(s.o.topics[i])
	}
	return fmt.Sprintf("predefined id %d", s.o.predefined[i-len(s.o.topics)])
}

// activeLoop keeps the client alive with PINGREQ until done or ctx ends.
func (s *subscriber) activeLoop(ctx context.Context) error {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kerr := make(chan error, 1)
	go func() { kerr <- s.c.KeepAlive(kctx) }()
	defer func() { cancel(); <-kerr }()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return nil
	case <-s.gone:
		return errGone
	case err := <-kerr:
		if err != nil {
			return fmt.Errorf("keep-alive: %w", err)
		}
		return nil
	case <-s.c.Done():
		return s.c.Err()
	}
}

// sleepLoop sends the client to sleep and wakes it every --wake-every to
// collect what the gateway buffered. [MQTT-SN 1.2 §6.14]
func (s *subscriber) sleepLoop(ctx context.Context) error {
	if err := s.req(ctx, func(ctx context.Context) error { return s.c.Sleep(ctx, time.Duration(s.o.sleep)) }); err != nil {
		return fmt.Errorf("sleep: %w", err)
	}
	t := time.NewTicker(time.Duration(s.o.wakeEvery))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return nil
		case <-s.gone:
			return errGone
		case <-t.C:
		}
		if err := s.req(ctx, s.c.Wake); err != nil {
			if ctx.Err() != nil || s.finished() {
				return nil
			}
			return fmt.Errorf("wake: %w", err)
		}
	}
}

// onMessage prints one message; it runs on the client's reader goroutine,
// so messages are printed in arrival order.
func (s *subscriber) onMessage(m client.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if s.o.retainedOnly && !m.Retain {
		s.stop()
		return
	}
	s.outbuf = s.format(s.outbuf[:0], &m)
	if _, err := s.out.Write(s.outbuf); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	s.printed++
	if s.o.count > 0 && s.printed >= s.o.count {
		s.stop()
	}
}

func (s *subscriber) stop() {
	s.stopped = true
	close(s.done)
}
