package aggregator

import (
	"context"
	"strings"
	"sync"
	"testing"
)

func TestPatientHandles(t *testing.T) {
	ctx := context.Background()
	d, err := NewPatients([]byte("0123456789abcdef0123456789abcdef"), &mapDirectory{m: map[string][]byte{}})
	if err != nil {
		t.Fatal(err)
	}
	id := Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}
	p, err := d.Register(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Handle, id.Value) || len(p.Handle) < 20 {
		t.Errorf("handle %q leaks the identifier or is too short", p.Handle)
	}
	again, _ := d.Register(ctx, id)
	if again.Handle != p.Handle {
		t.Errorf("handle not stable: %q then %q", p.Handle, again.Handle)
	}
	other, _ := NewPatients([]byte("another secret of at least 16 b"), &mapDirectory{m: map[string][]byte{}})
	if other.Handle(id) == p.Handle {
		t.Error("handles under different secrets are equal")
	}
	if d.Handle(Identifier{System: id.System + "3", Value: "002991234"}) == p.Handle {
		t.Error("system and value are not separated in the HMAC input")
	}
	got, ok, err := d.Resolve(ctx, p.Handle)
	if err != nil || !ok || got.Identifier != id {
		t.Errorf("Resolve = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := d.Resolve(ctx, "unknown"); ok {
		t.Error("unknown handle resolved")
	}
	if _, err := d.Register(ctx, Identifier{Value: "x"}); err == nil {
		t.Error("identifier without system accepted")
	}
	if _, err := NewPatients([]byte("short"), &mapDirectory{m: map[string][]byte{}}); err == nil {
		t.Error("short secret accepted")
	}
}

// mapDirectory is a Directory two Patients share, as replicas share Redis.
type mapDirectory struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (d *mapDirectory) SavePatient(_ context.Context, h string, sealed []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[h] = append([]byte(nil), sealed...)
	return nil
}

func (d *mapDirectory) LoadPatient(_ context.Context, h string) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.m[h]
	return b, ok, nil
}

func TestPatientsShareHandlesThroughADirectory(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	dir := &mapDirectory{m: map[string][]byte{}}
	a, _ := NewPatients(secret, dir)
	b, _ := NewPatients(secret, dir)
	id := Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}
	p, err := a.Register(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for h, sealed := range dir.m {
		if strings.Contains(string(sealed), id.Value) || h != p.Handle {
			t.Errorf("the directory holds the CPR in clear or under another key")
		}
	}
	got, ok, err := b.Resolve(ctx, p.Handle)
	if err != nil || !ok || got.Identifier != id {
		t.Fatalf("another replica resolves %+v, %v, %v", got, ok, err)
	}
	// A record moved to another handle, or sealed under another secret, is refused.
	dir.m["other"] = dir.m[p.Handle]
	if _, ok, _ := b.Resolve(ctx, "other"); ok {
		t.Error("a sealed identifier resolved under another handle")
	}
	c, _ := NewPatients([]byte("another secret, 32 bytes long!!!"), dir)
	if _, ok, _ := c.Resolve(ctx, p.Handle); ok {
		t.Error("a replica with another secret resolved the handle")
	}
}

// A name a source gave on one replica is shown on another, sealed in the
// directory beside the identifier, never in clear.
func TestPatientNamesThroughADirectory(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	dir := &mapDirectory{m: map[string][]byte{}}
	a, _ := NewPatients(secret, dir)
	b, _ := NewPatients(secret, dir)
	id := Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}
	p, err := a.Register(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Name(ctx, p.Handle); got != "" {
		t.Errorf("name before any source gave one: %q", got)
	}
	a.SetName(ctx, "never-registered", "Nobody")
	if got := a.Name(ctx, "never-registered"); got != "" {
		t.Errorf("a name kept without its identifier: %q", got)
	}
	a.SetName(ctx, p.Handle, " Birthe Østergaard Madsen ")
	if got := a.Name(ctx, p.Handle); got != "Birthe Østergaard Madsen" {
		t.Errorf("this replica: %q", got)
	}
	if strings.Contains(string(dir.m[p.Handle]), "Birthe") {
		t.Error("the directory holds the name in clear")
	}
	if got := b.Name(ctx, p.Handle); got != "Birthe Østergaard Madsen" {
		t.Errorf("another replica: %q", got)
	}
	// The identifier still resolves from the entry that holds the name too.
	c, _ := NewPatients(secret, dir)
	got, ok, err := c.Resolve(ctx, p.Handle)
	if err != nil || !ok || got.Identifier != id || c.Name(ctx, p.Handle) != "Birthe Østergaard Madsen" {
		t.Errorf("resolve with a name: %+v %v %v %q", got, ok, err, c.Name(ctx, p.Handle))
	}
}
