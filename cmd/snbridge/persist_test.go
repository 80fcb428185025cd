package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport/udp"
)

const persistConfig = `[gateway]
buffer_qos0 = true

[[transport.udp]]
listen = %q

[broker]
listen = %q

[fallback]
data_dir = %q

[log]
level = "debug"
format = "json"
`

// watched is a snbridge process whose log lines a test can wait for.
type watched struct {
	cmd    *exec.Cmd
	exited chan error
	mu     sync.Mutex
	lines  []string
	more   chan struct{}
}

// startWatched runs snbridge -c cfgPath and waits for "snbridge running".
func startWatched(t *testing.T, cfgPath string) *watched {
	t.Helper()
	w := &watched{cmd: exec.Command(binary, "-c", cfgPath), exited: make(chan error, 1), more: make(chan struct{}, 1)}
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		}
		w.exited <- w.cmd.Wait()
	}()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
	w.wait(t, `"message":"snbridge running"`)
	return w
}

// wait blocks until a log line contains every fragment.
func (w *watched) wait(t *testing.T, frags ...string) {
	t.Helper()
	w.waitAfter(t, 0, frags...)
}

// mark is the number of log lines so far, for waitAfter.
func (w *watched) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// waitAfter is wait for the log lines after mark (a later event of a
// kind that has already been logged).
func (w *watched) waitAfter(t *testing.T, mark int, frags ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for seen := mark; ; {
		w.mu.Lock()
		for ; seen < len(w.lines); seen++ {
			ok := true
			for _, f := range frags {
				ok = ok && strings.Contains(w.lines[seen], f)
			}
			if ok {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case err := <-w.exited:
			w.exited <- err
			t.Fatalf("snbridge exited (%v) before a log line with %q:\n%s", err, frags, w.logs())
		case <-deadline:
			t.Fatalf("no log line with %q:\n%s", frags, w.logs())
		}
	}
}

func (w *watched) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// kill9 kills the process with SIGKILL and waits for it.
func (w *watched) kill9(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("snbridge did not die")
	}
}

// snClientAt opens an MQTT-SN client on a fresh UDP socket (a new
// address each time) towards the gateway at snAddr.
func snClientAt(t *testing.T, snAddr string, cfg client.Config) (*client.Client, chan client.Message) {
	t.Helper()
	conn, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway, err = netipAddr(snAddr); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan client.Message, 64)
	cfg.OnMessage = func(m client.Message) { msgs <- m }
	c := client.Open(conn, cfg)
	t.Cleanup(func() { _ = c.Close() })
	return c, msgs
}

// TestKill9SleepingClient: a sleeping client's buffered messages (QoS 0,
// 1, 2) survive kill -9 of the daemon once they were flushed to the state
// file; after the restart the client wakes with PINGREQ from a new
// address and gets them in order, followed by PINGRESP. A message for a
// CleanSession=false client that had disconnected survives too.
func TestKill9SleepingClient(t *testing.T) {
	snAddr, mqttAddr, dir := freeAddr(t, "udp"), freeAddr(t, "tcp"), t.TempDir()
	cfgPath := writeConfig(t, fmt.Sprintf(persistConfig, snAddr, mqttAddr, dir))
	d := startWatched(t, cfgPath)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cfg := client.Config{ClientID: "sleeper-9", KeepAlive: time.Minute, CleanSession: true}
	c, _ := snClientAt(t, snAddr, cfg)
	must(t, "connect", c.Connect(ctx))
	ack, err := c.Subscribe(ctx, client.FilterName("cmd/sleeper-9"), 2)
	must(t, "subscribe", err)
	must(t, "sleep", c.Sleep(ctx, 10*time.Minute))
	_ = c.Close()

	// A CleanSession=false client that went away.
	kcfg := client.Config{ClientID: "keeper-9", KeepAlive: time.Minute, CleanSession: false}
	k, _ := snClientAt(t, snAddr, kcfg)
	must(t, "connect keeper", k.Connect(ctx))
	kack, err := k.Subscribe(ctx, client.FilterName("cmd/keeper-9"), 1)
	must(t, "subscribe keeper", err)
	must(t, "disconnect keeper", k.Disconnect(ctx))
	_ = k.Close()

	pub := bridgetest.Connect(t, "tcp://"+mqttAddr, nil)
	for i, qos := range []byte{0, 1, 2} {
		bridgetest.PublishClient(t, pub, "cmd/sleeper-9", []byte{'m', byte('0' + i)}, qos, false)
	}
	bridgetest.PublishClient(t, pub, "cmd/keeper-9", []byte("kept"), 1, false)
	// Flushed: the state file has the sessions with what they hold.
	d.wait(t, `"client_id":"sleeper-9"`, `"queued":3`, `"message":"session state saved"`)
	d.wait(t, `"client_id":"keeper-9"`, `"queued":1`, `"message":"session state saved"`)
	pub.Disconnect(0)
	d.kill9(t)

	d = startWatched(t, cfgPath)
	d.wait(t, `"message":"sessions restored"`, `"asleep":1`)
	c2, msgs := snClientAt(t, snAddr, cfg)
	must(t, "wake", c2.Wake(ctx))
	if len(msgs) != 3 {
		t.Fatalf("%d messages before PINGRESP, want 3\n%s", len(msgs), d.logs())
	}
	for i, qos := range []mqttsn.QoS{0, 1, 2} {
		m := <-msgs
		if want := fmt.Sprintf("m%d", i); string(m.Payload) != want || m.QoS != qos || m.TopicID != ack.TopicID {
			t.Errorf("message %d: %+v, want %s at QoS %d on topic id %d", i, m, want, qos, ack.TopicID)
		}
	}

	k2, kmsgs := snClientAt(t, snAddr, kcfg)
	must(t, "reconnect keeper", k2.Connect(ctx))
	select {
	case m := <-kmsgs:
		if string(m.Payload) != "kept" || m.TopicID != kack.TopicID {
			t.Errorf("keeper got %+v, want kept on topic id %d", m, kack.TopicID)
		}
	case <-ctx.Done():
		t.Fatalf("keeper got nothing after the restart\n%s", d.logs())
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestDamagedStateFile: a state file that is not one, or has another
// format tag, or a data_dir that cannot be used, stops start-up with an
// error naming the file and what to do; the file is left as it was.
func TestDamagedStateFile(t *testing.T) {
	garbageDir := t.TempDir()
	must(t, "write", os.WriteFile(filepath.Join(garbageDir, "state.db"), []byte(strings.Repeat("garbage!", 1024)), 0o600))
	tagDir := t.TempDir()
	db, err := bolt.Open(filepath.Join(tagDir, "state.db"), 0o600, nil)
	must(t, "bolt open", err)
	must(t, "bolt update", db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte("snbridge-state/0"))
	}))
	must(t, "bolt close", db.Close())
	brokerDir := t.TempDir()
	must(t, "write", os.WriteFile(filepath.Join(brokerDir, "broker.db"), []byte(strings.Repeat("garbage!", 1024)), 0o600))
	notDir := filepath.Join(t.TempDir(), "file")
	must(t, "write", os.WriteFile(notDir, nil, 0o600))

	for _, tt := range []struct {
		name, dir string
		want      []string
	}{
		{"garbage", garbageDir, []string{filepath.Join(garbageDir, "state.db"), "damaged or not a snbridge state file", "move it away"}},
		{"other format", tagDir, []string{filepath.Join(tagDir, "state.db"), "snbridge-state/0", "run the snbridge version that wrote it", "move the file away"}},
		{"broker store", brokerDir, []string{filepath.Join(brokerDir, "broker.db"), "damaged or not a broker store", "move it away"}},
		{"data_dir not a directory", notDir, []string{"fallback.data_dir", notDir, "set [fallback] data_dir"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, fmt.Sprintf(persistConfig, freeAddr(t, "udp"), freeAddr(t, "tcp"), tt.dir))
			_, stderr, code := runBinary(t, "-c", cfg)
			if code == 0 {
				t.Fatalf("exit 0 with a bad data_dir\n%s", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
		})
	}
}
