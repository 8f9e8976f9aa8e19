package memcache

import (
	"context"
	"sync"

	"github.com/overblik/overblik/aggregator"
)

// Directory keeps which sealed identifier a handle stands for, in process.
type Directory struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory { return &Directory{m: map[string][]byte{}} }

var _ aggregator.Directory = (*Directory)(nil)

func (d *Directory) SavePatient(_ context.Context, handle string, sealed []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[handle] = append([]byte(nil), sealed...)
	return nil
}

func (d *Directory) LoadPatient(_ context.Context, handle string) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.m[handle]
	return append([]byte(nil), b...), ok, nil
}
