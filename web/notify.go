package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/notify"
)

// Notices: a person's notice preferences on /account, the notices given up
// on on /admin, and the demo's mailbox at /demo/mail.

// Notices keeps people's notice preferences and knows the failed notices;
// *notify.Notifier is one.
type Notices interface {
	Channels() []notify.Channel
	Preferences(ctx context.Context, person string) (notify.Preferences, error)
	SetPreferences(ctx context.Context, p notify.Preferences) error
	Failed(ctx context.Context, limit int) ([]notify.Failed, error)
}

// DemoMailbox holds the notices the demo sent without an SMTP server;
// *notify.Mailbox is one.
type DemoMailbox interface {
	Messages() []notify.Message
}

// noticesView is the notices section of /account.
type noticesView struct {
	Channels                      []channelOption
	Address                       string
	Changes, Conflicts, Reminders bool
	QuietFrom, QuietTo            string
	Follow                        []followOption
	Saved                         bool
}

type channelOption struct {
	Value, Label string
	Selected     bool
}

type followOption struct {
	Handle, Name string
	On           bool
}

// followable are the timelines the person may be told about: their own and
// those delegated to them now.
func (s *Server) followable(c echo.Context, tr *translator, p access.Principal) ([]followOption, error) {
	var out []followOption
	if p.Has(access.RolePatient) && p.Handle != "" {
		out = append(out, followOption{Handle: p.Handle, Name: tr.T("notices.own")})
	}
	ds, err := s.deps.Access.Received(c.Request().Context(), p)
	if err != nil {
		return nil, fmt.Errorf("list delegations received: %w", err)
	}
	for _, d := range ds {
		if slices.ContainsFunc(out, func(f followOption) bool { return f.Handle == d.Patient }) {
			continue
		}
		out = append(out, followOption{Handle: d.Patient, Name: s.delegatorLink(tr, d).Name})
	}
	return out, nil
}

// noticesSection fills the notices section of /account; nil without notices.
func (s *Server) noticesSection(c echo.Context, tr *translator) (*noticesView, error) {
	if s.deps.Notices == nil {
		return nil, nil
	}
	id, _ := identity(c)
	p, err := s.deps.Notices.Preferences(c.Request().Context(), id.Principal.Handle)
	if err != nil {
		return nil, fmt.Errorf("notice preferences: %w", err)
	}
	v := &noticesView{Address: p.Address, Changes: p.Changes, Conflicts: p.Conflicts, Reminders: p.Reminders,
		Saved: c.QueryParam("notices") == "saved"}
	if p.QuietFrom != p.QuietTo {
		v.QuietFrom, v.QuietTo = p.QuietFrom.String(), p.QuietTo.String()
	}
	for _, ch := range s.deps.Notices.Channels() {
		v.Channels = append(v.Channels, channelOption{Value: string(ch), Label: tr.T("notices.channel." + string(ch)), Selected: ch == p.Channel})
	}
	if v.Follow, err = s.followable(c, tr, id.Principal); err != nil {
		return nil, err
	}
	for i := range v.Follow {
		v.Follow[i].On = slices.Contains(p.Follow, v.Follow[i].Handle)
	}
	return v, nil
}

// noticesForm saves the person's notice preferences, in the page's
// language. Only timelines the person may see now can be followed.
func (s *Server) noticesForm(c echo.Context) error {
	tr := s.translatorFor(c)
	id, _ := identity(c)
	f := c.Request().PostForm
	ch, ok := notify.ParseChannel(f.Get("channel"))
	if !ok {
		return s.renderAccount(c, http.StatusBadRequest, tr.T("notices.bad"))
	}
	p := notify.Preferences{Person: id.Principal.Handle, Subject: id.Principal.Subject, Name: id.Principal.Name,
		Lang: tr.lang, Channel: ch, Address: f.Get("address"),
		Changes: f.Get("changes") == "1", Conflicts: f.Get("conflicts") == "1", Reminders: f.Get("reminders") == "1"}
	from, to := strings.TrimSpace(f.Get("quiet_from")), strings.TrimSpace(f.Get("quiet_to"))
	if from != "" || to != "" {
		qf, err1 := notify.ParseClock(from)
		qt, err2 := notify.ParseClock(to)
		if err1 != nil || err2 != nil {
			return s.renderAccount(c, http.StatusBadRequest, tr.T("notices.bad_quiet"))
		}
		p.QuietFrom, p.QuietTo = qf, qt
	}
	may, err := s.followable(c, tr, id.Principal)
	if err != nil {
		return err
	}
	for _, h := range f["follow"] {
		if slices.ContainsFunc(may, func(o followOption) bool { return o.Handle == h }) {
			p.Follow = append(p.Follow, h)
		}
	}
	if err := s.deps.Notices.SetPreferences(c.Request().Context(), p); err != nil {
		if errors.Is(err, notify.ErrInvalid) {
			return s.renderAccount(c, http.StatusBadRequest, tr.T("notices.bad"))
		}
		return fmt.Errorf("save notice preferences: %w", err)
	}
	s.log.Info("notice preferences saved", "person", id.Principal.Handle, "channel", ch, "follows", len(p.Follow))
	return c.Redirect(http.StatusSeeOther, "/account?notices=saved#notices")
}

// failedView is a notice given up on, as /admin lists it.
type failedView struct {
	Key, Kind, Channel, When, Error string
	Attempts                        int
}

type failedNoticesView struct{ Items []failedView }

// failedNotices fills the admin page's section; nil without notices.
func (s *Server) failedNotices(c echo.Context, tr *translator) (*failedNoticesView, error) {
	if s.deps.Notices == nil {
		return nil, nil
	}
	fs, err := s.deps.Notices.Failed(c.Request().Context(), 50)
	if err != nil {
		return nil, fmt.Errorf("failed notices: %w", err)
	}
	out := &failedNoticesView{}
	now := s.now().In(s.loc)
	for _, f := range fs {
		out.Items = append(out.Items, failedView{Key: f.Key, Kind: tr.T("notices.kind." + string(f.Kind)),
			Channel: tr.T("notices.channel." + string(f.Channel)), When: tr.when(f.GaveUp.In(s.loc), now),
			Error: f.Error, Attempts: f.Attempts})
	}
	return out, nil
}

type demoMailPage struct {
	page
	Messages []mailView
}

type mailView struct {
	To, Subject, Text, Link, When string
}

// demoMail shows the notices the demo sent: made-up people, and by default
// nothing in them but that something changed.
func (s *Server) demoMail(c echo.Context) error {
	tr := s.translatorFor(c)
	v := demoMailPage{page: s.newPage(c, tr, tr.T("demomail.title"))}
	now := s.now().In(s.loc)
	for _, m := range s.deps.Mailbox.Messages() {
		v.Messages = append(v.Messages, mailView{To: m.To, Subject: m.Subject, Text: m.Text, Link: m.Link, When: tr.when(m.Created.In(s.loc), now)})
	}
	return s.render(c, http.StatusOK, tr.lang, "demomail", v)
}
