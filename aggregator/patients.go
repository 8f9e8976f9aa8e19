package aggregator

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
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
	dir    Directory // shared with the other replicas (Redis), or this process's
	aead   cipher.AEAD
	shared map[string]bool // handles saved to dir
}

// Directory is where replicas share which identifier a handle stands for,
// so a handle made on one replica resolves on all (Redis implements it).
// It only ever sees the identifier sealed under a key derived from the
// handle secret: a copy of the directory reveals no CPR number.
type Directory interface {
	SavePatient(ctx context.Context, handle string, sealed []byte) error
	LoadPatient(ctx context.Context, handle string) (sealed []byte, ok bool, err error)
}

// NewPatients returns the handles keyed by secret (at least 16 bytes),
// shared through dir (a Backend's Directory) with the replicas that have
// the same secret.
func NewPatients(secret []byte, dir Directory) (*Patients, error) {
	if len(secret) < 16 {
		return nil, errors.New("patients: handle secret must be at least 16 bytes")
	}
	if dir == nil {
		return nil, errors.New("patients: no directory")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("overblik patient directory key"))
	block, _ := aes.NewCipher(m.Sum(nil)) // 32 bytes: AES-256, never fails
	aead, _ := cipher.NewGCM(block)
	return &Patients{secret: secret, byID: make(map[string]Identifier), dir: dir, aead: aead, shared: make(map[string]bool)}, nil
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
func (d *Patients) Register(ctx context.Context, id Identifier) (PatientRef, error) {
	if id.System == "" || id.Value == "" {
		return PatientRef{}, errors.New("patients: identifier needs a system and a value")
	}
	h := d.Handle(id)
	d.mu.Lock()
	d.byID[h] = id
	share := !d.shared[h]
	d.mu.Unlock()
	// Best effort: while the directory is away the handle works on this
	// replica, and the next Register of it tries to share it again.
	if share && d.dir.SavePatient(ctx, h, d.seal(h, id)) == nil {
		d.mu.Lock()
		d.shared[h] = true
		d.mu.Unlock()
	}
	return PatientRef{Handle: h, Identifier: id}, nil
}

// Resolve maps a handle back to the patient; ok is false for an unknown handle.
func (d *Patients) Resolve(ctx context.Context, handle string) (PatientRef, bool, error) {
	d.mu.RLock()
	id, ok := d.byID[handle]
	d.mu.RUnlock()
	if ok {
		return PatientRef{Handle: handle, Identifier: id}, true, nil
	}
	sealed, ok, err := d.dir.LoadPatient(ctx, handle)
	if err != nil {
		// The directory is away: a handle made on another replica is
		// unknown here until it is back (a 404, never a failed request).
		return PatientRef{}, false, nil
	}
	if !ok {
		return PatientRef{}, false, nil
	}
	id, err = d.open(handle, sealed)
	if err != nil || d.Handle(id) != handle {
		// Sealed under another secret, or tampered with: not this patient.
		return PatientRef{}, false, nil
	}
	d.mu.Lock()
	d.byID[handle] = id
	d.mu.Unlock()
	return PatientRef{Handle: handle, Identifier: id}, true, nil
}

// seal encrypts the identifier, bound to its handle.
func (d *Patients) seal(handle string, id Identifier) []byte {
	nonce := make([]byte, d.aead.NonceSize())
	rand.Read(nonce) // never fails since Go 1.24
	return d.aead.Seal(nonce, nonce, []byte(id.System+"\x00"+id.Value), []byte(handle))
}

func (d *Patients) open(handle string, sealed []byte) (Identifier, error) {
	n := d.aead.NonceSize()
	if len(sealed) < n {
		return Identifier{}, errors.New("sealed identifier too short")
	}
	plain, err := d.aead.Open(nil, sealed[:n], sealed[n:], []byte(handle))
	if err != nil {
		return Identifier{}, err
	}
	system, value, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		return Identifier{}, errors.New("sealed identifier malformed")
	}
	return Identifier{System: system, Value: value}, nil
}
