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
	// names are the patients' names as a source gave them (SetName):
	// personal data, kept only here and sealed in dir, never logged.
	names map[string]string
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
	return &Patients{secret: secret, byID: make(map[string]Identifier), dir: dir, aead: aead, shared: make(map[string]bool), names: make(map[string]string)}, nil
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
	name := d.names[h]
	d.mu.Unlock()
	// Best effort: while the directory is away the handle works on this
	// replica, and the next Register of it tries to share it again.
	if share && d.dir.SavePatient(ctx, h, d.seal(h, id, name)) == nil {
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
	id, name, err := d.open(handle, sealed)
	if err != nil || d.Handle(id) != handle {
		// Sealed under another secret, or tampered with: not this patient.
		return PatientRef{}, false, nil
	}
	d.mu.Lock()
	d.byID[handle] = id
	if name != "" {
		d.names[handle] = name
	}
	d.mu.Unlock()
	return PatientRef{Handle: handle, Identifier: id}, true, nil
}

// SetName keeps the name a source gave for the patient of handle (a
// Service's Options.Named), sealed in the directory beside the identifier
// so every replica can show it. A handle never registered here is left
// alone: the name is kept only with its identifier.
func (d *Patients) SetName(ctx context.Context, handle, name string) {
	name = strings.TrimSpace(name)
	d.mu.Lock()
	id, ok := d.byID[handle]
	same := d.names[handle] == name
	if ok && name != "" {
		d.names[handle] = name
	}
	d.mu.Unlock()
	if !ok || name == "" || same {
		return
	}
	// Best effort, as in Register: this replica knows the name meanwhile.
	_ = d.dir.SavePatient(ctx, handle, d.seal(handle, id, name))
}

// Name is the patient's name as a source gave it, "" when none did. It is
// personal data for those the view lets see the patient: never log it.
// A name another replica learnt is read from the directory.
func (d *Patients) Name(ctx context.Context, handle string) string {
	d.mu.RLock()
	name, ok := d.names[handle]
	d.mu.RUnlock()
	if ok {
		return name
	}
	sealed, ok, err := d.dir.LoadPatient(ctx, handle)
	if err != nil || !ok {
		return ""
	}
	id, name, err := d.open(handle, sealed)
	if err != nil || d.Handle(id) != handle || name == "" {
		return ""
	}
	d.mu.Lock()
	d.names[handle] = name
	d.mu.Unlock()
	return name
}

// seal encrypts the identifier and the name, if known, bound to the handle.
func (d *Patients) seal(handle string, id Identifier, name string) []byte {
	nonce := make([]byte, d.aead.NonceSize())
	rand.Read(nonce) // never fails since Go 1.24
	plain := id.System + "\x00" + id.Value
	if name != "" {
		plain += "\x00" + name
	}
	return d.aead.Seal(nonce, nonce, []byte(plain), []byte(handle))
}

// open reads what seal wrote; a directory entry from before names were
// kept has none.
func (d *Patients) open(handle string, sealed []byte) (Identifier, string, error) {
	n := d.aead.NonceSize()
	if len(sealed) < n {
		return Identifier{}, "", errors.New("sealed identifier too short")
	}
	plain, err := d.aead.Open(nil, sealed[:n], sealed[n:], []byte(handle))
	if err != nil {
		return Identifier{}, "", err
	}
	system, rest, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		return Identifier{}, "", errors.New("sealed identifier malformed")
	}
	value, name, _ := strings.Cut(rest, "\x00")
	return Identifier{System: system, Value: value}, name, nil
}
