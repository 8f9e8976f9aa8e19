package aggregator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"sync"
)

// Patients maps identifiers to opaque handles and back. A handle is an HMAC of
// the identifier under a server secret: stable across restarts and replicas
// that share the secret, and useless to anyone who sees it in a URL or log.
type Patients struct {
	secret []byte
	mu     sync.RWMutex
	byID   map[string]Identifier
}

// NewPatients returns a directory keyed by secret, which must not be empty.
func NewPatients(secret []byte) (*Patients, error) {
	if len(secret) < 16 {
		return nil, errors.New("patients: handle secret must be at least 16 bytes")
	}
	return &Patients{secret: secret, byID: make(map[string]Identifier)}, nil
}

var handleEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Handle computes the handle of an identifier without registering it.
func (d *Patients) Handle(id Identifier) string {
	m := hmac.New(sha256.New, d.secret)
	m.Write([]byte(id.System))
	m.Write([]byte{0})
	m.Write([]byte(id.Value))
	// 20 bytes (160 bits) are plenty against guessing and keep URLs short.
	return strings.ToLower(handleEncoding.EncodeToString(m.Sum(nil)[:20]))
}

// Register returns the patient's handle, remembering the identifier so the
// handle can be resolved later.
func (d *Patients) Register(_ context.Context, id Identifier) (PatientRef, error) {
	if id.System == "" || id.Value == "" {
		return PatientRef{}, errors.New("patients: identifier needs a system and a value")
	}
	h := d.Handle(id)
	d.mu.Lock()
	d.byID[h] = id
	d.mu.Unlock()
	return PatientRef{Handle: h, Identifier: id}, nil
}

// Resolve maps a handle back to the patient; ok is false for an unknown handle.
func (d *Patients) Resolve(_ context.Context, handle string) (PatientRef, bool, error) {
	d.mu.RLock()
	id, ok := d.byID[handle]
	d.mu.RUnlock()
	if !ok {
		return PatientRef{}, false, nil
	}
	return PatientRef{Handle: handle, Identifier: id}, true, nil
}
