package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/view"
)

// The notices on real parts: aggregator services on the memory cache or the
// real Redis, access and notify on SQLite or the real PostgreSQL, an SMTP
// server (emersion/go-smtp, with STARTTLS and AUTH PLAIN) and an HTTP
// receiver started by the test. Only the FHIR source is the test's own: it
// serves what the test sets.

const cprSystem = "urn:oid:1.2.208.176.1.2"

// source serves the entries the test sets.
type source struct {
	name  string
	mu    sync.Mutex
	es    []aggregator.Entry
	calls int
}

func (s *source) Name() string              { return s.name }
func (s *source) Sector() aggregator.Sector { return aggregator.SectorHospital }
func (s *source) Fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return aggregator.Batch{Entries: slices.Clone(s.es)}, nil
}
func (s *source) fetches() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }
func (s *source) set(es ...aggregator.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.es = es
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func cph(t testing.TB) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Europe/Copenhagen")
	must(t, err)
	return l
}
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
func at(loc *time.Location, d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }

func appt(id, title string, start time.Time, restricted bool) aggregator.Entry {
	e := aggregator.Entry{ID: "hosp/Appointment/" + id, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
		Start: start, End: start.Add(30 * time.Minute), Title: title, Place: aggregator.Place{Name: title + " sted"},
		Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal}
	if restricted {
		e.Sensitivity = aggregator.SensitivityRestricted
	}
	return e
}

// mailServer is an SMTP submission server that takes mail only after
// STARTTLS and AUTH PLAIN as user/secret.
type mailServer struct {
	addr  string
	tls   *tls.Config // what a client trusts it with
	mu    sync.Mutex
	msgs  []*mail.Message
	rcpts []string
}

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	cert, pool := selfSigned(t)
	ms := &mailServer{tls: &tls.Config{RootCAs: pool}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{ms: ms}, nil }))
	s.Domain = "127.0.0.1"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ms.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ms
}

type mailSession struct {
	ms     *mailServer
	authed bool
	to     []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "overblik" || pass != "smtp-secret" {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authenticate first"}
	}
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *mailSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	var rd io.Reader = m.Body
	if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		rd = quotedprintable.NewReader(m.Body)
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	m.Body = strings.NewReader(string(body))
	s.ms.mu.Lock()
	s.ms.msgs = append(s.ms.msgs, m)
	s.ms.rcpts = append(s.ms.rcpts, s.to...)
	s.ms.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

func (ms *mailServer) received() ([]*mail.Message, []string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return slices.Clone(ms.msgs), slices.Clone(ms.rcpts)
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	leaf, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// receiver is a webhook endpoint that checks the signature and keeps what
// it got; it fails every request while fail is set.
type receiver struct {
	*httptest.Server
	secret []byte
	mu     sync.Mutex
	got    []notify.WebhookBody
	keys   []string
	tries  int
	fail   bool
	bad    []string // why requests were refused
}

func startReceiver(t *testing.T, secret []byte) *receiver {
	t.Helper()
	r := &receiver{secret: secret}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		ts, err := strconv.ParseInt(req.Header.Get(notify.HeaderTimestamp), 10, 64)
		sig := req.Header.Get(notify.HeaderSignature)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if err != nil || !hmac.Equal([]byte(sig), []byte(want)) {
			r.bad = append(r.bad, "signature")
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var b notify.WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			r.bad = append(r.bad, "json")
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		r.got = append(r.got, b)
		r.keys = append(r.keys, req.Header.Get(notify.HeaderIdemKey))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) bodies() []notify.WebhookBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) setFail(f bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }
func (r *receiver) attempts() int  { r.mu.Lock(); defer r.mu.Unlock(); return r.tries }

// world is one patient (Anna), her relative (Rasmus, who may not see her
// restricted entries) and their notices, on n replicas.
type world struct {
	clk      *clock
	loc      *time.Location
	hosp     *source
	svcs     []*aggregator.Service
	nots     []*notify.Notifier
	stores   []*notify.Store
	acc      []*access.Service
	accStore *sqlstore.Store
	ref      aggregator.PatientRef
	anna     access.Principal
	rasmus   access.Principal
	mail     *mailServer
	hook     *receiver
}

type worldOptions struct {
	replicas int
	redis    bool // timelines in the real Redis; memory otherwise (one replica)
	postgres bool // access and notify in the real PostgreSQL; SQLite otherwise
	details  bool // details in e-mail
	tweak    func(*notify.Options)
	// access, when set, wraps what the notifier decides and audits through.
	access func(view.Access) view.Access
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	ctx := context.Background()
	loc := cph(t)
	w := &world{clk: &clock{t: at(loc, 1, 9, 0)}, loc: loc, hosp: &source{name: "hosp"}}
	w.mail = startMailServer(t)
	secret := []byte("webhook-secret-of-the-test")
	w.hook = startReceiver(t, secret)
	var dbURL, dbPath string
	if o.postgres {
		dbURL = storetest.PostgresURL(t, "notify_")
	} else {
		dbPath = filepath.Join(t.TempDir(), "overblik.db")
	}
	prefix := ""
	if o.redis {
		var b [6]byte
		rand.Read(b[:])
		prefix = "overblik-test-notify-" + hex.EncodeToString(b[:]) + ":"
		t.Cleanup(func() {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
			defer rdb.Close()
			keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
			if len(keys) > 0 {
				rdb.Del(context.Background(), keys...)
			}
		})
	}
	hsecret := []byte("0123456789abcdef0123456789abcdef")
	for i := range o.replicas {
		var as *sqlstore.Store
		var err error
		if o.postgres {
			as, err = sqlstore.OpenPostgres(ctx, dbURL, sqlstore.Options{})
		} else {
			as, err = sqlstore.OpenSQLite(ctx, dbPath, sqlstore.Options{})
		}
		must(t, err)
		t.Cleanup(func() { as.Close() })
		if i == 0 {
			w.accStore = as
		}
		acc := access.NewService(as, access.Options{Now: w.clk.now, CacheFor: -1})
		w.acc = append(w.acc, acc)
		ns, err := notify.OpenStore(ctx, as.DB(), nil)
		must(t, err)
		w.stores = append(w.stores, ns)

		backend := memcache.NewBackend(0)
		if o.redis {
			rdb, err := rediscache.NewClient("redis://127.0.0.1:6379/0")
			must(t, err)
			t.Cleanup(func() { rdb.Close() })
			rc, err := rediscache.New(rdb, rediscache.Options{Prefix: prefix, PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatalf("Redis at 127.0.0.1:6379 is needed: %v", err)
			}
			backend = rc.Backend()
		}
		pats, err := aggregator.NewPatients(hsecret, backend.Directory)
		must(t, err)
		if i == 0 {
			w.ref, err = pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3002410148"})
			must(t, err)
		}
		opts := notify.Options{
			Senders: map[notify.Channel]notify.Sender{
				notify.ChannelEmail: &notify.SMTP{Addr: w.mail.addr, From: "Overblik <noreply@overblik.example>",
					Username: "overblik", Password: []byte("smtp-secret"), StartTLS: true, TLS: w.mail.tls},
				notify.ChannelWebhook: &notify.Webhook{URL: w.hook.URL, Secret: secret},
			},
			Details: map[notify.Channel]bool{notify.ChannelEmail: o.details},
			BaseURL: "https://overblik.example", Location: loc, Now: w.clk.now,
			Poll: 20 * time.Millisecond, RetryAfter: time.Minute, MaxAttempts: 3,
		}
		if o.tweak != nil {
			o.tweak(&opts)
		}
		var n *notify.Notifier
		svc, err := aggregator.New([]aggregator.Registration{{Source: w.hosp, Display: "Aarhus Universitetshospital"}}, backend,
			aggregator.Options{Now: w.clk.now, Location: loc, FreshFor: time.Hour,
				Changed: func(ctx context.Context, h string, v int64, cs []aggregator.Change, cf []aggregator.Conflict) {
					n.Changed(ctx, h, v, cs, cf)
				}})
		must(t, err)
		t.Cleanup(svc.Close)
		w.svcs = append(w.svcs, svc)
		var va view.Access = acc
		if o.access != nil {
			va = o.access(acc)
		}
		n, err = notify.New(ns, svc, pats, va, opts)
		must(t, err)
		w.nots = append(w.nots, n)
	}
	pats, _ := aggregator.NewPatients(hsecret, memcache.NewDirectory())
	w.anna = access.Principal{Subject: "sub-anna", Roles: []access.Role{access.RolePatient}, Handle: w.ref.Handle, Name: "Anna Andersen"}
	w.rasmus = access.Principal{Subject: "sub-rasmus", Roles: []access.Role{access.RolePatient, access.RoleRelative},
		Handle: pats.Handle(aggregator.Identifier{System: cprSystem, Value: "3002500246"}), Name: "Rasmus"}
	// Anna lets Rasmus in, without her restricted entries.
	_, err := w.acc[0].Grant(ctx, w.anna, access.GrantRequest{Grantee: w.rasmus.Handle, Label: "Søn"})
	must(t, err)
	// Anna is told by e-mail, Rasmus by webhook; no quiet hours unless a test sets them.
	must(t, w.nots[0].SetPreferences(ctx, notify.Preferences{Person: w.anna.Handle, Subject: w.anna.Subject, Name: w.anna.Name,
		Lang: "da", Channel: notify.ChannelEmail, Address: "anna@example.test", Changes: true, Conflicts: true, Reminders: true,
		Follow: []string{w.anna.Handle}}))
	must(t, w.nots[0].SetPreferences(ctx, notify.Preferences{Person: w.rasmus.Handle, Subject: w.rasmus.Subject, Name: w.rasmus.Name,
		Lang: "en", Channel: notify.ChannelWebhook, Address: "+4512345678", Changes: true, Conflicts: true, Reminders: true,
		Follow: []string{w.anna.Handle}}))
	return w
}

// refresh builds Anna's timeline on replica i.
func (w *world) refresh(t *testing.T, i int) {
	t.Helper()
	if _, err := w.svcs[i].Refresh(context.Background(), w.ref); err != nil {
		t.Fatal(err)
	}
}

// tick runs one round of every replica's worker.
func (w *world) tick(t *testing.T) {
	t.Helper()
	for _, n := range w.nots {
		if err := n.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// annasLog is Anna's audit log, newest first.
func (w *world) annasLog(t *testing.T) []access.Event {
	t.Helper()
	pg, err := w.acc[0].AuditLog(context.Background(), w.anna, "", 500)
	must(t, err)
	return pg.Events
}

// noticesTo counts the notice rows in Anna's log whose actor is p.
func (w *world) noticesTo(t *testing.T, p access.Principal) int {
	t.Helper()
	n := 0
	for _, ev := range w.annasLog(t) {
		if ev.Action == access.ActionNotice && ev.ActorHandle == p.Handle {
			n++
		}
	}
	return n
}
