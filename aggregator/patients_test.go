package aggregator

import (
	"context"
	"strings"
	"testing"
)

func TestPatientHandles(t *testing.T) {
	ctx := context.Background()
	d, err := NewPatients([]byte("0123456789abcdef0123456789abcdef"))
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
	other, _ := NewPatients([]byte("another secret of at least 16 b"))
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
	if _, err := NewPatients([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
}
