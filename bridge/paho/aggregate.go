package paho

import (
	"context"

	"github.com/snbridge/snbridge/bridge"
)

type asession struct{}

type aggregator struct{}

func newAggregator(u *Upstream) *aggregator { return &aggregator{} }

func (a *aggregator) open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
}
func (a *aggregator) run(ctx context.Context) {}
