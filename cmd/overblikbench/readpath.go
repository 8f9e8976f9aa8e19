package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/accessbus"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/auth"
	"github.com/overblik/overblik/auth/demoidp"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

// The read path users take, wired as serve wires it: login or API key,
// the decision (cached per replica, invalidated over Redis), the audit row
// group-committed to PostgreSQL, timelines in Redis behind the fallback,
// sessions in Redis. Each row runs beside a bare Echo handler writing bytes
// of the same size at the same concurrency.

const benchClinicianKey = "overblikbench clinician key, made up for this run"

// readPathRow is one measured row of the production read path.
type readPathRow struct {
	name     string
	conns    int
	res      result
	base     result
	target   float64       // minimum ratio to the baseline
	p99Max   time.Duration // 0: none
	commits  float64       // PostgreSQL commits per request
	maxCommi float64       // 0: no target
}

// benchDatabase is a PostgreSQL database of the run's own, so that
// pg_stat_database counts this run's commits alone; dropped at the end.
type benchDatabase struct {
	admin *pgx.Conn
	name  string
	url   string
}

func openDatabase(ctx context.Context, adminURL string) (*benchDatabase, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("the read path rows need PostgreSQL (-postgres): %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "overblikbench_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("create the bench's database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	u.Path = "/" + name
	return &benchDatabase{admin: conn, name: name, url: u.String()}, nil
}

// commits is the database's committed transactions so far, once it counts
// at least atLeast of them. Backends report their counts a second or, when
// the statistics were busy, up to ten seconds after going idle: a count read
// too early would give one load run's commits to the next. The audit writer
// says how many it made, so the count is read once it has them all and has
// stopped moving.
func (d *benchDatabase) commits(ctx context.Context, atLeast int64) (int64, error) {
	deadline := time.Now().Add(15 * time.Second)
	var last int64 = -1
	for {
		time.Sleep(300 * time.Millisecond)
		var n int64
		if err := d.admin.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, d.name).Scan(&n); err != nil {
			return 0, err
		}
		if n >= atLeast && n == last {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("pg_stat_database counts %d commits, the audit writer made at least %d: %w", n, atLeast, context.DeadlineExceeded)
		}
		last = n
	}
}

func (d *benchDatabase) drop(ctx context.Context) {
	_, _ = d.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
	_ = d.admin.Close(ctx)
}

// readPathRows measures (a) a clinician's API key reading a cached
// timeline's JSON and (b) a patient's session reading her cached timeline
// page, each at 8 and 64 connections.
func readPathRows(ctx context.Context, r *benchRedis, pgURL string, loc *time.Location, log *slog.Logger, dur time.Duration) ([]readPathRow, error) {
	db, err := openDatabase(ctx, pgURL)
	if err != nil {
		return nil, err
	}
	defer db.drop(context.WithoutCancel(ctx))
	p, stop, err := startReadPath(ctx, r, db.url, loc, log)
	if err != nil {
		return nil, err
	}
	defer stop()

	type scenario struct {
		name    string
		url     string
		h       http.Header
		target  float64
		targets map[int]float64
		p99Max  map[int]time.Duration
	}
	scenarios := []scenario{
		{name: "(a) clinician API key: cached timeline JSON, audited (PostgreSQL), Redis", url: p.jsonURL,
			h:       http.Header{"Authorization": {"Bearer " + benchClinicianKey}, web.ReasonHeader: {"bench: ward round"}},
			targets: map[int]float64{8: 0.20, 64: 0.30}, p99Max: map[int]time.Duration{64: 25 * time.Millisecond}},
		{name: "(b) patient session: cached timeline page, audited (PostgreSQL), Redis", url: p.pageURL,
			h:       http.Header{"Cookie": {p.cookie}},
			targets: map[int]float64{64: 0.20}},
	}
	var rows []readPathRow
	for _, sc := range scenarios {
		body, err := p.get(sc.url, sc.h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.name, err)
		}
		baseURL, stopBase, err := bareHandler(len(body))
		if err != nil {
			return nil, err
		}
		for _, conns := range []int{8, 64} {
			base, err := load(ctx, baseURL, conns, dur)
			if err != nil {
				stopBase()
				return nil, fmt.Errorf("baseline: %w", err)
			}
			before, err := db.commits(ctx, p.written.Load())
			if err != nil {
				stopBase()
				return nil, err
			}
			writtenBefore := p.written.Load()
			res, err := loadWith(ctx, sc.url, sc.h, conns, dur)
			if err != nil {
				stopBase()
				return nil, fmt.Errorf("%s at %d connections: %w", sc.name, conns, err)
			}
			after, err := db.commits(ctx, before+p.written.Load()-writtenBefore)
			if err != nil {
				stopBase()
				return nil, err
			}
			row := readPathRow{name: sc.name, conns: conns, res: res, base: base, target: sc.targets[conns], p99Max: sc.p99Max[conns],
				commits: float64(after-before) / float64(res.requests)}
			if conns == 64 {
				row.maxCommi = 0.1
			}
			rows = append(rows, row)
		}
		stopBase()
	}
	if !p.healthy() {
		return nil, errors.New("the product lost Redis during the run and served from memory: the rows would not measure Redis")
	}
	if n, err := p.auditRows(ctx, db.url); err != nil || n == 0 {
		return nil, fmt.Errorf("the read path wrote %d audit rows (%v): it was not audited", n, err)
	}
	return rows, nil
}

func printReadPath(out io.Writer, rows []readPathRow) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tconns\treq/s\tp50\tp99\tratio\ttarget\tcommits/req\t")
	for _, r := range rows {
		x := r.res.rps() / r.base.rps()
		target := "-"
		var parts []string
		if r.target > 0 {
			parts = append(parts, fmt.Sprintf(">= %.2f %s", r.target, verdict(x >= r.target)))
		}
		if r.p99Max > 0 {
			parts = append(parts, fmt.Sprintf("p99 <= %s %s", r.p99Max, verdict(r.res.p99 <= r.p99Max)))
		}
		if len(parts) > 0 {
			target = strings.Join(parts, ", ")
		}
		commits := fmt.Sprintf("%.3f", r.commits)
		if r.maxCommi > 0 {
			commits += fmt.Sprintf(" (<= %.1f %s)", r.maxCommi, verdict(r.commits <= r.maxCommi))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%.2f of %.0f\t%s\t%s\t\n", r.name, r.conns, r.res.rps(),
			r.res.p50.Round(time.Microsecond), r.res.p99.Round(time.Microsecond), x, r.base.rps(), target, commits)
	}
	tw.Flush()
}

// bareHandler serves n bytes with their Content-Length: the floor for any
// cached read of that size.
func bareHandler(n int) (string, func(), error) {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = 'x'
	}
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(payload)))
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, payload)
	})
	return serve(e)
}

// readPath is the product as serve wires it, with one patient signed in.
type readPath struct {
	jsonURL, pageURL string
	cookie           string // the patient's session
	fb               *rediscache.Fallback
	patient          string
	written          *atomic.Int64 // the audit writer's commits
}

func (p *readPath) healthy() bool { return p.fb.Healthy() }

func (p *readPath) get(u string, h http.Header) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d: %.200s", u, resp.StatusCode, b)
	}
	return b, err
}

func (p *readPath) auditRows(ctx context.Context, dbURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE patient = $1 AND action = 'view'`, p.patient).Scan(&n)
	return n, err
}

func startReadPath(ctx context.Context, r *benchRedis, dbURL string, loc *time.Location, log *slog.Logger) (*readPath, func(), error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(err error) (*readPath, func(), error) { stopAll(); return nil, nil, err }

	// Timelines in Redis behind the fallback, as serve has them.
	// One Redis client, as serve has: the back end, the sessions and the
	// access change feed share it.
	b, rdb, closeBackend, err := r.backend(log)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, closeBackend)
	fb := b.Fallback
	d, stopSources, err := demoSources(loc, log, b.Backend)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, stopSources)

	// Access control on PostgreSQL: group-committed audit, decisions cached
	// and invalidated over Redis.
	store, err := sqlstore.OpenPostgres(ctx, dbURL, sqlstore.Options{Logger: log})
	if err != nil {
		return fail(err)
	}
	stops = append(stops, func() { store.Close() })
	written := new(atomic.Int64)
	auditor := access.NewGroupCommit(store, access.GroupCommitOptions{Logger: log,
		Commits: func(int, error) { written.Add(1) }})
	stops = append(stops, func() { auditor.Close() })
	bus, err := accessbus.New(rdb, accessbus.Options{Channel: r.prefix + "access", Logger: log})
	if err != nil {
		return fail(err)
	}
	svc := access.NewService(store, access.Options{Logger: log, Auditor: auditor, Broadcast: bus})
	bctx, cancelBus := context.WithCancel(ctx)
	busDone := make(chan struct{})
	go func() { defer close(busDone); _ = bus.Run(bctx, svc) }()
	stops = append(stops, func() { cancelBus(); <-busDone })

	// Login: the demo provider, sessions in Redis behind their fallback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	base := "http://" + ln.Addr().String()
	patient := d.patient
	idp, err := demoidp.Start("127.0.0.1:0", demoidp.Config{ClientID: "overblikbench", ClientSecret: "overblikbench secret",
		RedirectURI: base + "/auth/callback", PostLogoutURI: base + "/", Logger: log,
		Users: []demoidp.User{{ID: "patient", Name: patient.Name, CPR: patient.CPR, Roles: []string{"patient"}}}})
	if err != nil {
		ln.Close()
		return fail(err)
	}
	stops = append(stops, func() { idp.Close() })
	rs := auth.NewRedisStore(rdb, r.prefix+"session:")
	secret := []byte("overblikbench handle secret, 32+ bytes")
	au, err := auth.New(ctx, auth.Config{
		Sessions: auth.NewFallbackStore(rs, auth.NewMemoryStore(time.Now), log), Patients: d.patients, Logger: log, SealKey: secret,
		APIKeys: []auth.APIKey{{Name: "bench", SHA256: sha256.Sum256([]byte(benchClinicianKey)), Role: access.RoleClinician}},
		OIDC: &auth.OIDCConfig{Issuer: idp.Issuer, ClientID: "overblikbench", ClientSecret: "overblikbench secret",
			RedirectURL: base + "/auth/callback", PostLogoutURL: base + "/", Scopes: []string{"profile"},
			IdentifierSystem: patient.System},
	})
	if err != nil {
		ln.Close()
		return fail(err)
	}
	views := view.New(d.svc, d.patients, view.Options{Access: svc, Conflicted: d.svc, ByOrganization: true, Logger: log})
	h := web.New(web.Config{Location: loc, DefaultIdentifierSystem: patient.System, LoginPath: "/auth/login"},
		web.Deps{Views: views, Patients: d.patients, Auth: au, Access: svc, AuthRoutes: au.Handler(), Sources: d.svc, Logger: log}).Handler()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, func() { srv.Close() })

	ref, err := d.patients.Register(ctx, aggregator.Identifier{System: patient.System, Value: patient.CPR})
	if err != nil {
		return fail(err)
	}
	if _, err := d.svc.Refresh(ctx, ref); err != nil {
		return fail(err)
	}
	cookie, err := signIn(base, idp.Issuer, "patient")
	if err != nil {
		return fail(fmt.Errorf("sign the patient in: %w", err))
	}
	p := &readPath{jsonURL: base + "/api/v1/patients/" + ref.Handle + "/timeline", pageURL: base + "/p/" + ref.Handle,
		cookie: cookie, fb: fb, patient: ref.Handle, written: written}
	return p, stopAll, nil
}

// signIn logs user in through the demo provider's page, as a browser does,
// and returns the session cookie as a Cookie header.
func signIn(base, issuer, user string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/auth/login?next=/")
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		return "", errors.New("no login page")
	}
	resp, err = c.PostForm(issuer+"/login", url.Values{"authRequestID": {string(m[1])}, "user": {user}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	if len(parts) == 0 {
		return "", errors.New("no session cookie")
	}
	return strings.Join(parts, "; "), nil
}
