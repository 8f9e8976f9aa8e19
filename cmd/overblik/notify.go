package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/web"
)

// Notices as wired: the notifier on tables beside access's, told of every
// build that changed something, its worker running until Close, and its
// senders from `notify` (or the demo's mailbox).

// changedHook is the aggregator's Options.Changed when notices are
// configured: the notifier is made after the service, so the hook looks
// it up when called (newApp sets it before anything is built).
func (a *app) changedHook(cfg *config.Config) func(context.Context, string, int64, []aggregator.Change, []aggregator.Conflict) {
	if cfg.Notify == nil {
		return nil
	}
	return func(ctx context.Context, handle string, version int64, cs []aggregator.Change, added []aggregator.Conflict) {
		if a.notifier != nil {
			a.notifier.Changed(ctx, handle, version, cs, added)
		}
	}
}

// openNotify makes the notifier and starts its worker when `notify` is
// configured. Notices are reads of patient data: without access control
// there are none.
func (a *app) openNotify(cfg *config.Config, extras demoExtras, sec *security, svc *aggregator.Service, patients *aggregator.Patients, log *slog.Logger) error {
	nc := cfg.Notify
	if nc == nil {
		return nil
	}
	if sec == nil {
		return errors.New("notify: notices need access control (auth or api_keys)")
	}
	ctx := context.Background()
	store, err := notify.OpenStore(ctx, sec.store.DB(), log)
	if err != nil {
		return err
	}
	opts := notify.Options{
		Senders: map[notify.Channel]notify.Sender{}, Details: map[notify.Channel]bool{},
		BaseURL: nc.BaseURL, Location: cfg.Location, ReminderAt: nc.Reminder, MaxAttempts: nc.MaxAttempts,
		Quiet: &notify.QuietHours{From: nc.QuietStart, To: nc.QuietEnd}, Logger: log,
		ConflictText: web.ConflictSentences(cfg.Location),
	}
	if s := nc.SMTP; s != nil {
		opts.Senders[notify.ChannelEmail] = &notify.SMTP{Addr: s.Addr, From: s.From, Username: s.Username, Password: s.Password, StartTLS: s.StartTLS}
		opts.Details[notify.ChannelEmail] = s.Details
	}
	if extras.mailbox != nil && nc.SMTP == nil {
		opts.Senders[notify.ChannelEmail] = extras.mailbox
	}
	if w := nc.Webhook; w != nil {
		opts.Senders[notify.ChannelWebhook] = &notify.Webhook{URL: w.URL, Secret: w.Secret}
		opts.Details[notify.ChannelWebhook] = w.Details
	}
	n, err := notify.New(store, svc, patients, sec.access, opts)
	if err != nil {
		return err
	}
	for _, dn := range extras.notices {
		p := dn.preferences(patients, cfg.PatientIdentifierSystem)
		if err := n.SetPreferences(ctx, p); err != nil {
			return fmt.Errorf("demo notice preferences: %w", err)
		}
	}
	a.notifier = n
	a.background(func(ctx context.Context) {
		if err := n.Run(ctx); err != nil {
			log.Error("notify worker stopped", "err", err)
		}
	})
	return nil
}

// noticeDeps hands the notices to the web layer, when there are any.
func (a *app) noticeDeps(deps *web.Deps, extras demoExtras) {
	if a.notifier != nil {
		deps.Notices = a.notifier
	}
	if extras.mailbox != nil {
		deps.Mailbox = extras.mailbox
	}
}

// demoNotice is a demo person opted in to e-mail notices about the
// patients in follows (CPR numbers; their own first).
type demoNotice struct {
	cpr, name, subject string
	follows            []string
}

// preferences are the person's: every kind, e-mail to a made-up address,
// no quiet hours, so a newcomer sees a notice whenever they try.
func (dn demoNotice) preferences(patients *aggregator.Patients, system string) notify.Preferences {
	h := func(cpr string) string { return patients.Handle(aggregator.Identifier{System: system, Value: cpr}) }
	p := notify.Preferences{Person: h(dn.cpr), Subject: dn.subject, Name: dn.name, Lang: "da", Channel: notify.ChannelEmail,
		Address: demoAddress(dn.name), Changes: true, Conflicts: true, Reminders: true}
	for _, c := range dn.follows {
		p.Follow = append(p.Follow, h(c))
	}
	return p
}

// demoAddress is the first name in ASCII at example.test: birthe@example.test.
func demoAddress(name string) string {
	first, _, _ := strings.Cut(strings.ToLower(name), " ")
	first = strings.NewReplacer("æ", "ae", "ø", "oe", "å", "aa", "é", "e").Replace(first)
	return first + "@example.test"
}

// demoNotices opts every demo patient and the relative in, with the
// subjects startDemoLogin gives their logins: the relative (the third
// patient) also follows the first, who delegated to her.
func demoNotices(patients []web.DemoPatient) []demoNotice {
	subjects := []string{"patient-1", "patient-2", "relative"}
	var out []demoNotice
	for i, p := range patients {
		_, cpr, _ := cutIdentifier(p.Handle, "")
		dn := demoNotice{cpr: cpr, name: p.Name, subject: fmt.Sprintf("demo-patient-%d", i+1), follows: []string{cpr}}
		if i < len(subjects) {
			dn.subject = subjects[i]
		}
		out = append(out, dn)
	}
	if len(out) >= 3 {
		out[2].follows = append(out[2].follows, out[0].cpr)
	}
	return out
}

// demoNotify is the demo's `notify`: e-mail to smtpAddr (no TLS, no
// login: a local test server) or, without one, into the mailbox at
// /demo/mail; links to the demo at baseURL.
func demoNotify(baseURL, smtpAddr string) *config.NotifyConfig {
	n := &config.NotifyConfig{BaseURL: baseURL, ReminderAt: "18:00", QuietFrom: "22:00", QuietTo: "07:00", MaxAttempts: 5}
	if smtpAddr != "" {
		n.SMTP = &config.SMTPConfig{Addr: smtpAddr, From: "Overblik demo <overblik@example.test>"}
	} else {
		n.Mailbox = true
	}
	return n
}
