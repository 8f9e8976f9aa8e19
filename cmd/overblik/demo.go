package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/auth"
	"github.com/overblik/overblik/auth/demoidp"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/internal/cpr"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
	"github.com/overblik/overblik/web"
)

// demoSources are the simulated systems `overblik demo` starts, one per
// sector, with the phone numbers their Organizations have in testdata.
var demoSources = []struct {
	sector  testdata.Sector
	name    string
	display string
	phone   string
}{
	{testdata.SectorHospital, "aarhus-uh", "Aarhus Universitetshospital", "0000 1000"},
	{testdata.SectorMunicipality, "aarhus-kommune", "Aarhus Kommune", "0000 2000"},
	{testdata.SectorGP, "laegehuset", "Lægehuset Trøjborg", "0000 3000"},
}

// demoAPIKey lets programs use the demo's JSON API as a clinician:
// Authorization: Bearer demo-clinician-key, with an Overblik-Reason header.
// Its SHA-256 is what a configuration holds; the key itself is public, as
// everything in the demo is made up.
var demoAPIKey = config.APIKeyConfig{Name: "demo-clinician", Role: "clinician",
	KeySHA256: "14e98ee7a4f52e2a086b5926dfdb043240096ab555e453417bf0926d73a335ed"}

// demoOperator is the made-up operator the demo's privacy page and
// accessibility statement name, as overblik.demo.yaml does.
var demoOperator = config.SiteConfig{Operator: "Region Demo (opdigtet)", ContactEmail: "tilgaengelighed@example.test",
	ContactPhone: "+45 7000 0000", DPOEmail: "dpo@example.test", StatementDate: "2026-12-01", AuditRetention: 5 * 365 * 24 * time.Hour}

// demo is a running set of simulated sources and the configuration that
// points at them.
type demo struct {
	cfg      *config.Config
	patients []web.DemoPatient // Handle holds system|value until newApp swaps it
	sims     map[string]*fhirsim.Server
	servers  []*http.Server
}

// startDemo serves today's demo data from three simulators on loopback.
func startDemo(today time.Time, log *slog.Logger) (*demo, error) {
	cfg := config.Default()
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("demo zone: %w", err)
	}
	data := testdata.Demo(today, loc)
	d := &demo{cfg: cfg, sims: map[string]*fhirsim.Server{}}
	for _, ds := range demoSources {
		resources, _ := data.Sector(string(ds.sector))
		sim, err := fhirsim.New(resources, fhirsim.Options{TimeZone: loc})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo source %s: %w", ds.name, err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo source %s: %w", ds.name, err)
		}
		srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("demo source stopped", "source", ds.name, "err", err)
			}
		}()
		d.servers = append(d.servers, srv)
		d.sims[ds.name] = sim
		sc := config.DefaultSource()
		sc.Name, sc.Display, sc.Phone, sc.Sector, sc.Kind = ds.name, ds.display, ds.phone, string(ds.sector), fhirsource.Kind
		fc := fhirsource.DefaultConfig()
		fc.BaseURL = "http://" + ln.Addr().String()
		sc.Section = &fc
		cfg.Sources = append(cfg.Sources, sc)
	}
	for _, p := range data.Patients {
		d.patients = append(d.patients, web.DemoPatient{Handle: p.System + "|" + p.CPR, Name: p.Name})
	}
	cfg.Site = demoOperator
	cfg.EnsureHandleSecret()
	if err := cfg.Validate(sourceKinds()); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the simulators.
func (d *demo) Close() {
	for _, s := range d.servers {
		_ = s.Close()
	}
}

// runDemo runs the whole product on simulated sources until ctx ends.
// Its notices go to the SMTP server at smtpAddr, or without one to the
// mailbox at /demo/mail.
func runDemo(ctx context.Context, addr, smtpAddr string, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	rd, err := openDemoWith(ctx, time.Now(), ln.Addr(), demoFlags{smtp: smtpAddr}, log)
	if err != nil {
		return err
	}
	defer rd.Close()
	defer rd.app.startBackground(ctx, log)()
	log.Info("demo mode: three simulated sources on loopback", "sources", len(rd.demo.cfg.Sources), "patients", len(rd.demo.patients))
	return serveHTTP(ctx, ln, rd.app.handler, stdout, log)
}

// runningDemo is the whole demo product: simulators, the demo's OpenID
// provider and the wired app, to be served at the address it was opened for.
type runningDemo struct {
	demo    *demo
	app     *app
	closers []func()
}

// openDemo wires everything `overblik demo` serves at addr, as of today.
// Tests open it the same way.
func openDemo(ctx context.Context, today time.Time, addr net.Addr, log *slog.Logger) (*runningDemo, error) {
	return openDemoWith(ctx, today, addr, demoFlags{}, log)
}

// demoFlags are the demo command's options beyond its address.
type demoFlags struct {
	smtp string // --smtp HOST:PORT: where the notices go; none: the mailbox at /demo/mail
}

func openDemoWith(ctx context.Context, today time.Time, addr net.Addr, flags demoFlags, log *slog.Logger) (*runningDemo, error) {
	d, err := startDemo(today, log)
	if err != nil {
		return nil, err
	}
	rd := &runningDemo{demo: d, closers: []func(){d.Close}}
	// The demo logs in through its own OpenID provider (access.go).
	idp, login, err := startDemoLogin(demoBaseURL(addr), d.patients, log)
	if err != nil {
		rd.Close()
		return nil, err
	}
	rd.closers = append(rd.closers, func() { idp.Close() })
	// Every demo person is opted in to e-mail notices (notify.go).
	d.cfg.Notify = demoNotify(demoBaseURL(addr), flags.smtp)
	if err := d.cfg.Validate(sourceKinds()); err != nil {
		rd.Close()
		return nil, err
	}
	// Programs try the JSON API with the demo's API key (see the README),
	// which validation refuses outside the demo.
	d.cfg.APIKeys = append(d.cfg.APIKeys, demoAPIKey)
	d.cfg.PublicURL = demoBaseURL(addr) // calendar feeds are made under it
	outages := &demoOutages{demo: d}
	changes := &demoChanges{demo: d, now: time.Now} // demo_changes.go
	extras := demoExtras{patients: d.patients, outages: outages, changes: changes, login: login, notices: demoNotices(d.patients)}
	if flags.smtp == "" {
		extras.mailbox = notify.NewMailbox(200)
	}
	a, err := newApp(ctx, d.cfg, extras, log, nil)
	if err != nil {
		rd.Close()
		return nil, err
	}
	outages.app, changes.app = a, a
	rd.app = a
	rd.closers = append(rd.closers, a.Close)
	return rd, nil
}

// Close stops everything, newest first.
func (rd *runningDemo) Close() {
	for i := len(rd.closers) - 1; i >= 0; i-- {
		rd.closers[i]()
	}
}

// demoOutages lets the demo's front page take a simulator down. After a
// switch it refreshes the demo patients at once, so the next page view shows
// the effect instead of a timeline cached for fresh_for.
type demoOutages struct {
	demo *demo
	app  *app
}

func (o *demoOutages) Sources() []web.SimulatedSource {
	var out []web.SimulatedSource
	for _, ds := range demoSources {
		out = append(out, web.SimulatedSource{Name: ds.name, Display: ds.display, Down: o.demo.sims[ds.name].Down()})
	}
	return out
}

func (o *demoOutages) SetDown(ctx context.Context, name string, down bool) error {
	sim, ok := o.demo.sims[name]
	if !ok {
		return web.ErrUnknownSource
	}
	sim.SetDown(down)
	for _, p := range o.demo.patients {
		ref, ok, err := o.app.patients.Resolve(ctx, p.Handle)
		if err != nil || !ok {
			continue
		}
		if _, err := o.app.svc.Refresh(ctx, ref); err != nil {
			return fmt.Errorf("refresh after switching %s: %w", name, err)
		}
	}
	return nil
}

// The demo's login: its own OpenID provider, its users and delegations.

// demoLogin is the demo's in-process OpenID provider as the rest of the
// wiring sees it, and the delegations the demo starts with.
type demoLogin struct {
	issuer, clientID, clientSecret string
	apiAudience                    string // in the access tokens it issues for overblik's API
	baseURL                        string // where the demo's web server is reached
	grants                         []demoGrant
}

// demoAPIAudience is what the demo's provider names overblik's API in
// access tokens, so apps can use the JSON API with them.
const demoAPIAudience = "overblik-demo-api"

// demoGrant is a delegation from one demo patient to another person.
type demoGrant struct {
	patientCPR, patientName, granteeCPR, label string
}

// oidc is how overblik logs in at the demo's provider.
func (l *demoLogin) oidc(system string) *auth.OIDCConfig {
	return &auth.OIDCConfig{
		Issuer: l.issuer, ClientID: l.clientID, ClientSecret: l.clientSecret,
		RedirectURL: l.baseURL + "/auth/callback", PostLogoutURL: l.baseURL + "/",
		Scopes: []string{"profile"}, IdentifierSystem: system, Audience: l.apiAudience,
		OrganizationClaim: demoidp.ClaimOrganization,
	}
}

// grant gives the demo's delegations, unless they are there already.
func (l *demoLogin) grant(ctx context.Context, svc *access.Service, patients *aggregator.Patients, system string) error {
	for _, g := range l.grants {
		grantor := access.Principal{Subject: "demo", Roles: []access.Role{access.RolePatient}, Name: g.patientName,
			Handle: patients.Handle(aggregator.Identifier{System: system, Value: g.patientCPR})}
		grantee := patients.Handle(aggregator.Identifier{System: system, Value: g.granteeCPR})
		req := access.GrantRequest{Grantee: grantee, GranteeMasked: cpr.Masked(g.granteeCPR), Label: g.label}
		// Replicas on one database each start the demo: the first grants.
		if _, err := svc.Grant(ctx, grantor, req); err != nil && !errors.Is(err, access.ErrAlreadyGranted) {
			return fmt.Errorf("demo delegation: %w", err)
		}
	}
	return nil
}

// startDemoLogin starts the demo's OpenID provider for a web server reached
// at baseURL, with demo users made from the demo patients (CPRs from
// testdata): the first two as patients, the third as a relative holding a
// delegation from the first, a clinician and an admin.
func startDemoLogin(baseURL string, patients []web.DemoPatient, log *slog.Logger) (*demoidp.Provider, *demoLogin, error) {
	if len(patients) < 3 {
		return nil, nil, errors.New("demo login: needs three demo patients")
	}
	cpr := func(p web.DemoPatient) string { _, v, _ := cutIdentifier(p.Handle, ""); return v }
	secret, err := randomDemoSecret()
	if err != nil {
		return nil, nil, err
	}
	users := []demoidp.User{
		{ID: "patient-1", Name: patients[0].Name, CPR: cpr(patients[0]), Roles: []string{"patient"}, About: "patient"},
		{ID: "patient-2", Name: patients[1].Name, CPR: cpr(patients[1]), Roles: []string{"patient"}, About: "patient"},
		{ID: "relative", Name: patients[2].Name, CPR: cpr(patients[2]), Roles: []string{"patient", "relative"},
			About: "pårørende med fuldmagt fra / relative with a delegation from " + patients[0].Name},
		{ID: "clinician", Name: "Klara Kliniker", Roles: []string{"clinician"}, Organization: "Hjemmeplejen Midtbyen",
			About: "sygeplejerske i Hjemmeplejen Midtbyen / home-care nurse"},
		{ID: "admin", Name: "Adam Admin", Roles: []string{"admin"}, About: "drift / operations"},
	}
	idp, err := demoidp.Start("127.0.0.1:0", demoidp.Config{
		ClientID: "overblik-demo", ClientSecret: secret, RedirectURI: baseURL + "/auth/callback",
		PostLogoutURI: baseURL + "/", APIAudience: demoAPIAudience, Users: users, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return idp, &demoLogin{issuer: idp.Issuer, clientID: "overblik-demo", clientSecret: secret, apiAudience: demoAPIAudience, baseURL: baseURL,
		grants: []demoGrant{{patientCPR: cpr(patients[0]), patientName: patients[0].Name, granteeCPR: cpr(patients[2]), label: "Datter"}},
	}, nil
}

// demoBaseURL is how a browser on this machine reaches a listener: an
// unspecified host (":8080") becomes loopback.
func demoBaseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func randomDemoSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
