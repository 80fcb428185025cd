package bridgetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a mosquitto start may take until it accepts
// TCP connections.
const startTimeout = 15 * time.Second

// Options adjusts the mosquitto configuration written by
// [StartMosquittoWith]. The zero value is what [StartMosquitto] uses.
type Options struct {
	// Listener holds configuration lines written right after the
	// "listener PORT 127.0.0.1" line, for example cafile/certfile/keyfile
	// for a TLS listener.
	Listener string
	// Extra holds further global configuration lines, such as
	// "password_file /path".
	Extra string
	// DenyAnonymous sets allow_anonymous false (use with a password_file
	// in Extra; see [WritePasswordFile]).
	DenyAnonymous bool
	// Scheme is the URL scheme returned by [Mosquitto.URL]; "" means
	// "tcp". Use "ssl" or "tls" for a TLS listener.
	Scheme string
}

// Mosquitto is a mosquitto broker process owned by one test.
type Mosquitto struct {
	t      testing.TB
	bin    string
	conf   string
	port   int
	scheme string
	logs   syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has been waited for
}

// FindMosquitto returns the path of the mosquitto binary: from PATH, else
// /usr/sbin/mosquitto. When there is none it skips the test with an install
// hint, or fails it when the environment variable CI is set.
func FindMosquitto(t testing.TB) string {
	t.Helper()
	return findTool(t, "mosquitto", "/usr/sbin/mosquitto")
}

func findTool(t testing.TB, name, fallback string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found on PATH or at %s (CI is set, so this is a failure)", name, fallback)
	}
	t.Skipf("%s not installed; install it with: apt-get install mosquitto (tests using it are skipped unless CI is set)", name)
	return ""
}

// StartMosquitto starts mosquitto on a free loopback port with anonymous
// access and no persistence, waits until it accepts TCP connections and
// stops it when the test ends. Its log is written to the test log when the
// test fails.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoWith(t, Options{})
}

// StartMosquittoWith is [StartMosquitto] with configuration changes.
func StartMosquittoWith(t testing.TB, o Options) *Mosquitto {
	t.Helper()
	m := &Mosquitto{t: t, bin: FindMosquitto(t), scheme: o.Scheme}
	if m.scheme == "" {
		m.scheme = "tcp"
	}
	dir := t.TempDir()
	m.conf = filepath.Join(dir, "mosquitto.conf")
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log (port %d):\n%s", m.port, m.logs.String())
		}
	})
	// A free port can be taken by someone else between our probe and
	// mosquitto's bind; try a few ports before giving up.
	var err error
	for range 3 {
		m.port, err = freePort()
		if err != nil {
			t.Fatalf("mosquitto: pick port: %v", err)
		}
		if err = os.WriteFile(m.conf, []byte(config(m.port, o)), 0o600); err != nil {
			t.Fatalf("mosquitto: write config: %v", err)
		}
		if err = m.start(); err == nil {
			return m
		}
	}
	t.Fatalf("mosquitto: %v", err)
	return nil
}

func config(port int, o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	if o.Listener != "" {
		b.WriteString(strings.TrimRight(o.Listener, "\n") + "\n")
	}
	fmt.Fprintf(&b, "allow_anonymous %t\n", !o.DenyAnonymous)
	b.WriteString("persistence false\n")
	// No limit on a client's queue: the default (1000 messages) drops
	// messages for a test subscriber that falls behind a fast publisher.
	b.WriteString("max_queued_messages 0\n")
	b.WriteString("log_dest stderr\n")
	for _, lt := range []string{"error", "warning", "notice", "information", "subscribe", "unsubscribe"} {
		b.WriteString("log_type " + lt + "\n")
	}
	b.WriteString("log_timestamp_format %H:%M:%S\n")
	b.WriteString("connection_messages true\n")
	if os.Geteuid() == 0 {
		// Run as root mosquitto switches to user "mosquitto", which
		// cannot read the test's temp files; stay as we are.
		if u, err := user.Current(); err == nil {
			b.WriteString("user " + u.Username + "\n")
		}
	}
	if o.Extra != "" {
		b.WriteString(strings.TrimRight(o.Extra, "\n") + "\n")
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the broker URL, "tcp://127.0.0.1:PORT" (or the scheme given
// in [Options]).
func (m *Mosquitto) URL() string { return m.scheme + "://" + m.Addr() }

// Addr returns "127.0.0.1:PORT".
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// Port returns the TCP port mosquitto listens on.
func (m *Mosquitto) Port() int { return m.port }

// Logs returns what mosquitto logged so far.
func (m *Mosquitto) Logs() string { return m.logs.String() }

// Stop kills mosquitto and waits for it to exit. Stopping a stopped broker
// does nothing.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exit
	m.cmd, m.exit = nil, nil
	m.logs.WriteString("--- bridgetest: mosquitto stopped ---\n")
}

// Pause stops the mosquitto process (SIGSTOP) without closing anything:
// its connections stay open and nothing is answered, like a broker that
// hangs or a link that silently stops carrying traffic. Resume continues
// it. Stop works on a paused broker too.
func (m *Mosquitto) Pause() { m.signal(syscall.SIGSTOP, "paused") }

// Resume continues a paused mosquitto (SIGCONT).
func (m *Mosquitto) Resume() { m.signal(syscall.SIGCONT, "resumed") }

func (m *Mosquitto) signal(sig syscall.Signal, what string) {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		m.t.Fatalf("mosquitto: %s while stopped", what)
	}
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatalf("mosquitto: %s: %v", what, err)
	}
	m.logs.WriteString("--- bridgetest: mosquitto " + what + " ---\n")
}

// Start restarts a stopped mosquitto on the same port and waits until it
// accepts connections; it fails the test when that does not work. Starting
// a running broker does nothing.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("mosquitto: restart: %v", err)
	}
}

func (m *Mosquitto) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	logStart := m.logs.Len()
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.Stdout = &m.logs
	cmd.Stderr = &m.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	exit := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exit)
	}()
	running := func() bool { return strings.Contains(m.logs.From(logStart), " running") }
	if err := waitListening(m.Addr(), running, exit); err != nil {
		_ = cmd.Process.Kill()
		<-exit
		return fmt.Errorf("on port %d: %w (exit: %v)", m.port, err, waitErr)
	}
	m.cmd, m.exit = cmd, exit
	return nil
}

// waitListening polls until mosquitto has logged that it runs (so the
// port is its own, not someone else's who took it first) and addr accepts
// a TCP connection, the process exits or startTimeout passes.
func waitListening(addr string, running func() bool, exit <-chan struct{}) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := errors.New("not running yet")
		if running() {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-exit:
			return errors.New("mosquitto exited before listening")
		case <-deadline.C:
			return fmt.Errorf("not listening after %v: %w", startTimeout, err)
		case <-tick.C:
		}
	}
}

// WritePasswordFile writes a mosquitto password file for users (name to
// password) with mosquitto_passwd and returns its path, for
// Options.Extra = "password_file " + path.
func WritePasswordFile(t testing.TB, users map[string]string) string {
	t.Helper()
	bin := findTool(t, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	path := filepath.Join(t.TempDir(), "passwd")
	var b strings.Builder
	for u, p := range users {
		b.WriteString(u + ":" + p + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("write password file: %v", err)
	}
	// -U hashes the plain-text passwords in place.
	if out, err := exec.Command(bin, "-U", path).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd -U: %v: %s", err, out)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe for concurrent use: mosquitto's output
// is copied in by exec's goroutine while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// From returns what was written from offset off on.
func (b *syncBuffer) From(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[off:])
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
