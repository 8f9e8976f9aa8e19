package medcom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// MaxMessageBytes bounds a posted message: the IG's examples are 15-20 KB,
// most of it narrative.
const MaxMessageBytes = 1 << 20

// Registrar gives the patient's handle for an identifier and remembers it,
// so the timeline of a patient known only from a message can be built;
// *aggregator.Patients implements it.
type Registrar interface {
	Register(ctx context.Context, id aggregator.Identifier) (aggregator.PatientRef, error)
}

// Refresher rebuilds a patient's timeline in the cache every replica reads;
// *aggregator.Service implements it.
type Refresher interface {
	Refresh(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error)
}

// ReceiverConfig wires a Receiver.
type ReceiverConfig struct {
	Store    *Store
	Senders  []string // the configured medcom sources' names: who may post
	Patients Registrar
	// Timelines, when set, has each patient's timeline rebuilt after a new
	// message, so it shows within seconds.
	Timelines Refresher
	Logger    *slog.Logger
	Now       func() time.Time
	// RefreshTimeout bounds the rebuild after a message; default 30s.
	RefreshTimeout time.Duration
	// Keep is how long a patient's messages are kept after the newest of
	// them happened; default DefaultKeep. Keep it longer than the
	// timelines' past window.
	Keep time.Duration
}

// DefaultKeep keeps a patient's messages for a year after the last.
const DefaultKeep = 365 * 24 * time.Hour

// Receiver answers POST /fhir/$process-message for an authenticated sender.
type Receiver struct {
	cfg ReceiverConfig
	log *slog.Logger

	mu      sync.Mutex
	closed  bool
	pending map[string]*rebuild // by patient handle: a rebuild under way
	bg      sync.WaitGroup      // rebuilds started, awaited by Close
}

// rebuild is the rebuild of one patient's timeline: it must have begun
// after the newest message was stored, or it shows a state before it.
type rebuild struct {
	after time.Time // the newest message stored
	again bool      // a message came while a build ran
}

// NewReceiver checks cfg and returns the receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Store == nil || cfg.Patients == nil {
		return nil, errors.New("medcom: a receiver needs a store and patients")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = 30 * time.Second
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{cfg: cfg, log: log, pending: map[string]*rebuild{}}, nil
}

// Close waits for the timeline rebuilds already started and starts none.
func (rc *Receiver) Close() {
	rc.mu.Lock()
	rc.closed = true
	rc.mu.Unlock()
	rc.bg.Wait()
}

// Prune deletes, every interval until ctx ends, the messages of patients
// nobody has told us about for Keep. Several replicas may run it: a second
// delete finds nothing.
func (rc *Receiver) Prune(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := rc.cfg.Store.Prune(ctx, rc.cfg.Now().Add(-rc.cfg.Keep)); err != nil {
			if ctx.Err() != nil {
				return
			}
			rc.log.WarnContext(ctx, "pruning old hospital notifications failed", "err", err)
		} else if n > 0 {
			rc.log.InfoContext(ctx, "old hospital notifications deleted", "messages", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeMessage processes one message posted by sender, whom the caller has
// authenticated (an API key of role source named as the source, or a client
// certificate mapped to it). It answers with a MedCom Acknowledgement
// message: ok with 200 once the message is stored (a resend gets the
// acknowledgement it got the first time, and changes nothing); an error
// with an OperationOutcome saying what was wrong, and nothing stored,
// otherwise: 4xx for a message refused (fatal-error), 5xx when the store
// failed (transient-error: send it again).
func (rc *Receiver) ServeMessage(w http.ResponseWriter, r *http.Request, sender string) {
	base := baseURL(r)
	m := &Message{}
	refuse := func(status int, code string, issues ...Issue) {
		rc.log.WarnContext(r.Context(), "hospital notification refused", "source", sender, "status", status,
			"header", m.HeaderID, "issues", issueTexts(issues))
		rc.answer(w, status, m, code, issues, base)
	}
	if !slices.Contains(rc.cfg.Senders, sender) {
		refuse(http.StatusForbidden, AckFatalError, Issue{Code: "security",
			Text: "the credentials are not those of a configured medcom-hospitalnotification source"})
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/fhir+json" && mt != "application/json" {
		refuse(http.StatusUnsupportedMediaType, AckFatalError, Issue{Code: "not-supported", Detail: detailBadFormat,
			Text: "the body must be application/fhir+json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			refuse(http.StatusRequestEntityTooLarge, AckFatalError, Issue{Code: "too-long", Detail: detailBadFormat,
				Text: fmt.Sprintf("the message is larger than %d bytes", MaxMessageBytes)})
			return
		}
		refuse(http.StatusBadRequest, AckTransientError, Issue{Code: "incomplete", Detail: detailDamaged, Text: "the body could not be read; send it again"})
		return
	}
	m, err = Parse(body)
	if err != nil {
		var p *Problem
		if !errors.As(err, &p) {
			p = &Problem{Issues: []Issue{{Code: "exception", Detail: detailBadSyntax, Text: "the message could not be read"}}}
		}
		status := http.StatusUnprocessableEntity
		if p.NotJSON {
			status = http.StatusBadRequest
		}
		refuse(status, AckFatalError, p.Issues...)
		return
	}
	ctx := r.Context()
	now := rc.cfg.Now()
	p, err := rc.cfg.Patients.Register(ctx, m.Patient)
	if err != nil {
		rc.log.ErrorContext(ctx, "hospital notification: patient handle", "source", sender, "header", m.HeaderID, "err", err)
		refuse(http.StatusServiceUnavailable, AckTransientError, Issue{Code: "transient", Detail: detailOutOfOperation, Text: "the message could not be taken now; send it again"})
		return
	}
	ok, err := acknowledgement(m, AckOK, nil, base, now)
	if err != nil {
		refuse(http.StatusInternalServerError, AckTransientError, Issue{Code: "exception", Detail: detailOutOfOperation, Text: "the acknowledgement could not be written; send the message again"})
		return
	}
	saved, kept, err := rc.cfg.Store.Save(ctx, sender, p.Handle, m, ok, now)
	if err != nil {
		rc.log.ErrorContext(ctx, "hospital notification not stored", "source", sender, "patient", p, "header", m.HeaderID, "err", err)
		refuse(http.StatusServiceUnavailable, AckTransientError, Issue{Code: "transient", Detail: detailOutOfOperation,
			Text: "the message could not be stored; send it again"})
		return
	}
	switch saved {
	case Resent:
		rc.log.InfoContext(ctx, "hospital notification resent", "source", sender, "patient", p, "header", m.HeaderID)
		writeAck(w, http.StatusOK, kept)
	case BundleReused:
		refuse(http.StatusConflict, AckFatalError, Issue{Code: "duplicate", Detail: detailDuplicate, Expression: "Bundle.id",
			Text: "the Bundle id was used by another message; each message needs a new one"})
	default:
		rc.log.InfoContext(ctx, "hospital notification stored", "source", sender, "patient", p, "header", m.HeaderID,
			"activity", m.Facts.Activity)
		writeAck(w, http.StatusOK, ok)
		rc.rebuild(p, rc.cfg.Now()) // a build must begin after the message is kept
	}
}

// rebuild has the patient's timeline built again in the background (the
// acknowledgement need not wait for every source) by a build that began
// after stored: one already running (here, or on another replica holding
// the patient's lease) may have read the store before this message, so
// then it is built once more. One rebuild per patient runs at a time.
func (rc *Receiver) rebuild(p aggregator.PatientRef, stored time.Time) {
	if rc.cfg.Timelines == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.closed {
		return
	}
	if rb := rc.pending[p.Handle]; rb != nil {
		rb.again, rb.after = true, later(rb.after, stored)
		return
	}
	rb := &rebuild{after: stored}
	rc.pending[p.Handle] = rb
	rc.bg.Add(1)
	go func() {
		defer rc.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), rc.cfg.RefreshTimeout)
		defer cancel()
		// A few rounds at most: a replica whose clock is behind ours would
		// otherwise never build late enough.
		for round := 0; ; round++ {
			rc.mu.Lock()
			after := rb.after
			rb.again = false
			rc.mu.Unlock()
			tl, err := rc.cfg.Timelines.Refresh(ctx, p)
			if err != nil {
				rc.log.Warn("timeline rebuild after a hospital notification failed", "patient", p, "err", err)
			}
			rc.mu.Lock()
			done := !rb.again && (err != nil || !tl.GeneratedAt.Before(after) || round >= 3)
			if done {
				delete(rc.pending, p.Handle)
			}
			rc.mu.Unlock()
			if done {
				return
			}
		}
	}()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (rc *Receiver) answer(w http.ResponseWriter, status int, m *Message, code string, issues []Issue, base string) {
	b, err := acknowledgement(m, code, issues, base, rc.cfg.Now())
	if err != nil {
		http.Error(w, "acknowledgement failed", http.StatusInternalServerError)
		return
	}
	writeAck(w, status, b)
}

func writeAck(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// baseURL is this endpoint's FHIR base, for the acknowledgement's fullUrls.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func issueTexts(issues []Issue) []string {
	out := make([]string, len(issues))
	for i, is := range issues {
		out[i] = is.Text
	}
	return out
}
