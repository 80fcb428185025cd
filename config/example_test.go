package config_test

import (
	"fmt"

	"github.com/snbridge/snbridge/config"
)

func ExampleLoad() {
	cfg, err := config.Load("../testdata/config/valid/minimal-upstream.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("standalone:", cfg.Standalone())
	fmt.Println("upstream:", cfg.Upstream.URL)
	fmt.Println("udp:", cfg.Transport.UDP[0].Listen)
	fmt.Println("retry:", cfg.Gateway.RetryInterval, "x", cfg.Gateway.RetryCount)
	// Output:
	// standalone: false
	// upstream: tcp://127.0.0.1:1883
	// udp: 0.0.0.0:1884
	// retry: 10s x 3
}

func ExampleParse() {
	_, err := config.Parse([]byte(`
[gateway]
id = 300
advertize = "15m"

[[transport.xbee]]
device = "/dev/ttyUSB0"
baud = 12345
`))
	fmt.Println(err)
	// Output:
	// unknown key gateway.advertize
	// gateway.id: 300 out of range 0..255
	// transport.xbee[0].baud: unsupported rate 12345 (use one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
}
