package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/client/cli"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // not every message was acknowledged, or the gateway refused
	exitUsage = 2
)

type options struct {
	cli.Common
	topic      string
	predefined int
	message    string
	hasMessage bool
	file       string
	stdin      bool
	lines      bool
	null       bool
	qos        int
	retain     bool
	timeout    cli.Duration

	willTopic   string
	willPayload string
	willQoS     int
	willRetain  bool

	repeat      int
	repeatDelay cli.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	o := &options{timeout: cli.Duration(10 * time.Second)}
	fs := flag.NewFlagSet("mqttsn-pub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Add(fs, fmt.Sprintf("mqttsn-pub-%d", os.Getpid()))
	fs.StringVar(&o.topic, "t", "", "topic `name` (REGISTERed first); exactly 2 characters = a short topic name")
	fs.IntVar(&o.predefined, "T", -1, "predefined topic `id` instead of -t")
	fs.Func("m", "the `message` to send", func(s string) error { o.message, o.hasMessage = s, true; return nil })
	fs.StringVar(&o.file, "f", "", "send the content of `file` as the message")
	fs.BoolVar(&o.stdin, "s", false, "send all of stdin as one message")
	fs.BoolVar(&o.lines, "l", false, "send each line of stdin as a message")
	fs.BoolVar(&o.null, "n", false, "send an empty message")
	fs.IntVar(&o.qos, "q", 0, "`QoS` -1 (no CONNECT; -T or a short -t only), 0, 1 or 2")
	fs.BoolVar(&o.retain, "r", false, "retain the message")
	fs.Var(&o.timeout, "W", "wait at most this many `seconds` for each answer of the gateway")
	fs.StringVar(&o.willTopic, "will-topic", "", "will `topic`")
	fs.StringVar(&o.willPayload, "will-payload", "", "will `message`")
	fs.IntVar(&o.willQoS, "will-qos", 0, "will `QoS` 0, 1 or 2")
	fs.BoolVar(&o.willRetain, "will-retain", false, "retain the will")
	fs.IntVar(&o.repeat, "repeat", 1, "send the message(s) `N` times")
	fs.Var(&o.repeatDelay, "repeat-delay", "wait this many `seconds` between repeats")
	if code, ok := cli.ParseArgs(fs, args, "mqttsn-pub", "mqttsn-pub {-t topic | -T id} {-m msg | -f file | -s | -l | -n} [options]",
		func() error { return o.check(fs) }, stderr); !ok {
		return nil, code
	}
	return o, -1
}

func (o *options) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (o.topic == "") == (o.predefined < 0) {
		return errors.New("give exactly one of -t topic and -T id")
	}
	if o.predefined > 0xFFFE {
		return fmt.Errorf("-T %d: a predefined id is 1..65534", o.predefined)
	}
	if o.topic != "" && len(o.topic) != 2 {
		if err := mqttsn.ValidateTopicName(o.topic); err != nil {
			return fmt.Errorf("-t %q: %w", o.topic, err)
		}
	}
	n := 0
	for _, set := range []bool{o.hasMessage, o.file != "", o.stdin, o.lines, o.null} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of -m, -f, -s, -l and -n")
	}
	if _, err := cli.ParseQoS(o.qos, true); err != nil {
		return err
	}
	if o.qos == -1 && o.topic != "" && len(o.topic) != 2 {
		return errors.New("QoS -1 is sent without CONNECT and REGISTER: use -T id or a 2-character short topic name")
	}
	if o.qos == -1 && o.willTopic != "" {
		return errors.New("QoS -1 sends no CONNECT, so no will")
	}
	if _, err := cli.ParseQoS(o.willQoS, false); err != nil {
		return fmt.Errorf("--will-qos: %w", err)
	}
	if o.repeat < 1 {
		return errors.New("--repeat must be at least 1")
	}
	return nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if o == nil {
		return code
	}
	p := &publisher{o: o, stdin: stdin, stderr: stderr}
	if err := p.run(ctx); err != nil {
		fmt.Fprintf(stderr, "mqttsn-pub: %s\n", cli.Words(err))
		return exitFail
	}
	return exitOK
}

type publisher struct {
	o      *options
	stdin  io.Reader
	stderr io.Writer
	c      *client.Client
	topic  client.Topic

	mu       sync.Mutex
	rejected []mqttsn.Puback // refusals of QoS 0 PUBLISH
}

func (p *publisher) run(ctx context.Context) error {
	o := p.o
	log := zerolog.Nop()
	tr, err := o.Open(ctx, log)
	if err != nil {
		return err
	}
	defer tr.Wait()
	cfg, err := o.ClientConfig(tr, p.stderr)
	if err != nil {
		tr.Conn.Close()
		return err
	}
	// Retransmit unanswered requests twice within -W. [MQTT-SN 1.2 §6.13]
	cfg.Retry, cfg.MaxRetries = time.Duration(o.timeout)/3, 2
	cfg.OnRejected = func(pa mqttsn.Puback) {
		p.mu.Lock()
		p.rejected = append(p.rejected, pa)
		p.mu.Unlock()
	}
	if o.willTopic != "" {
		cfg.Will = &client.Will{Topic: o.willTopic, Payload: []byte(o.willPayload), QoS: mqttsn.QoS(o.willQoS), Retain: o.willRetain}
	}
	p.c = client.Open(tr.Conn, cfg)
	defer p.c.Close()

	qos := mqttsn.QoS(o.qos)
	if qos != mqttsn.QoSMinus1 {
		if err := p.do(ctx, p.c.Connect); err != nil {
			return err
		}
	}
	if err := p.resolveTopic(ctx); err != nil {
		return err
	}
	if err := p.publishAll(ctx, qos); err != nil {
		return err
	}
	if qos != mqttsn.QoSMinus1 {
		// The gateway's DISCONNECT comes after any refusal of an earlier
		// QoS 0 PUBLISH, which OnRejected has then seen.
		if err := p.do(ctx, p.c.Disconnect); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rejected) > 0 {
		return fmt.Errorf("%s (%d of the QoS %d messages refused)", p.rejected[0].ReturnCode, len(p.rejected), o.qos)
	}
	return nil
}

// do runs one request with the -W timeout.
func (p *publisher) do(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.o.timeout))
	defer cancel()
	return f(ctx)
}

func (p *publisher) resolveTopic(ctx context.Context) error {
	o := p.o
	switch {
	case o.predefined >= 0:
		p.topic = client.Predefined(uint16(o.predefined))
	case len(o.topic) == 2:
		t, err := client.Short(o.topic)
		if err != nil {
			return err
		}
		p.topic = t
	default:
		return p.do(ctx, func(ctx context.Context) error {
			id, err := p.c.Register(ctx, o.topic)
			p.topic = client.Registered(id)
			return err
		})
	}
	return nil
}

func (p *publisher) publishAll(ctx context.Context, qos mqttsn.QoS) error {
	o := p.o
	var payload []byte
	switch {
	case o.hasMessage:
		payload = []byte(o.message)
	case o.file != "":
		b, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		payload = b
	case o.stdin:
		b, err := io.ReadAll(p.stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		payload = b
	case o.null:
		payload = []byte{}
	}
	var lines []string
	for i := range o.repeat {
		if i > 0 && o.repeatDelay > 0 {
			select {
			case <-time.After(time.Duration(o.repeatDelay)):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !o.lines {
			if err := p.publish(ctx, qos, payload); err != nil {
				return err
			}
			continue
		}
		if i == 0 { // stream the lines as they come; keep them for repeats
			sc := bufio.NewScanner(p.stdin)
			sc.Buffer(make([]byte, 0, 4096), mqttsn.MaxTopicLen)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if err := p.publish(ctx, qos, sc.Bytes()); err != nil {
					return err
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			continue
		}
		for _, l := range lines {
			if err := p.publish(ctx, qos, []byte(l)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *publisher) publish(ctx context.Context, qos mqttsn.QoS, payload []byte) error {
	return p.do(ctx, func(ctx context.Context) error {
		return p.c.Publish(ctx, p.topic, qos, p.o.retain, payload)
	})
}
