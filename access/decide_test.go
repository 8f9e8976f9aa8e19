package access

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	me    = "h-me"
	other = "h-other"
)

// situation is the relation between the principal ("me") and the patient asked about.
type situation struct {
	name string
	rel  Relation
}

func delegation(mod func(*Delegation)) []Delegation {
	d := Delegation{ID: "d", Patient: other, Grantee: me, Created: now.Add(-24 * time.Hour)}
	mod(&d)
	return []Delegation{d}
}

var situations = []situation{
	{"own", Relation{Patient: me}},
	{"delegated", Relation{Patient: other, Delegations: delegation(func(*Delegation) {})}},
	{"delegated+restricted", Relation{Patient: other, Delegations: delegation(func(d *Delegation) { d.IncludeRestricted = true })}},
	{"delegation expired", Relation{Patient: other, Delegations: delegation(func(d *Delegation) { d.Until = now })}},
	{"delegation revoked", Relation{Patient: other, Delegations: delegation(func(d *Delegation) { d.Revoked = now.Add(-time.Hour) })}},
	{"other patient", Relation{Patient: other}},
	{"blocked", Relation{Patient: other, Blocked: true}},
}

// columns of the matrix: each answers allowed or not.
var columns = []struct {
	name string
	ask  func(p Principal, rel Relation) bool
}{
	{"view", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionView) }},
	{"view restricted", func(p Principal, rel Relation) bool {
		d, err := Decide(p, rel, ActionView, now, "follow-up")
		return err == nil && d.Restricted
	}},
	{"look up", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionLookup) }},
	{"grant", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionGrant) }},
	{"revoke", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionRevoke) }},
	{"block", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionBlock) }},
	{"read audit log", func(p Principal, rel Relation) bool { return allowed(p, rel, ActionReadAudit) }},
}

func allowed(p Principal, rel Relation, a Action) bool {
	_, err := Decide(p, rel, a, now, "follow-up")
	return err == nil
}

// TestMatrix: every role × situation × action. Each want has one letter per
// column (view, view restricted, look up, grant, revoke, block, read audit
// log): y allowed, - refused.
func TestMatrix(t *testing.T) {
	want := map[Role]map[string]string{
		RolePatient: {
			"own": "yyyyyyy", "delegated": "-------", "delegated+restricted": "-------",
			"delegation expired": "-------", "delegation revoked": "-------", "other patient": "-------", "blocked": "-------",
		},
		RoleRelative: {
			"own": "-------", "delegated": "y-y----", "delegated+restricted": "yyy----",
			"delegation expired": "-------", "delegation revoked": "-------", "other patient": "-------", "blocked": "-------",
		},
		RoleClinician: {
			"own": "yyy----", "delegated": "yyy----", "delegated+restricted": "yyy----",
			"delegation expired": "yyy----", "delegation revoked": "yyy----", "other patient": "yyy----", "blocked": "-------",
		},
		RoleAdmin: {
			"own": "-------", "delegated": "-------", "delegated+restricted": "-------",
			"delegation expired": "-------", "delegation revoked": "-------", "other patient": "-------", "blocked": "-------",
		},
		RoleSource: {
			"own": "-------", "delegated": "-------", "delegated+restricted": "-------",
			"delegation expired": "-------", "delegation revoked": "-------", "other patient": "-------", "blocked": "-------",
		},
	}
	for _, role := range []Role{RolePatient, RoleRelative, RoleClinician, RoleAdmin, RoleSource} {
		p := Principal{Subject: "sub", Roles: []Role{role}, Handle: me}
		for _, s := range situations {
			t.Run(string(role)+"/"+s.name, func(t *testing.T) {
				var got strings.Builder
				for _, c := range columns {
					if c.ask(p, s.rel) {
						got.WriteByte('y')
					} else {
						got.WriteByte('-')
					}
				}
				if w := want[role][s.name]; got.String() != w {
					t.Errorf("got %s, want %s (columns: view, view restricted, look up, grant, revoke, block, read audit log)", got.String(), w)
				}
			})
		}
	}
}

// Every refusal of a patient is the one error web turns into 404.
func TestRefusalIsNotVisible(t *testing.T) {
	for _, role := range []Role{RolePatient, RoleRelative, RoleClinician, RoleAdmin, RoleSource} {
		p := Principal{Subject: "sub", Roles: []Role{role}, Handle: me}
		for _, s := range situations {
			for _, a := range []Action{ActionView, ActionLookup, ActionGrant, ActionRevoke, ActionBlock, ActionUnblock, ActionReadAudit} {
				if _, err := Decide(p, s.rel, a, now, "follow-up"); err != nil && !errors.Is(err, ErrNotVisible) {
					t.Errorf("%s/%s/%s: %v, want nil or ErrNotVisible", role, s.name, a, err)
				}
			}
		}
	}
}

func TestDecide(t *testing.T) {
	citizen := Principal{Subject: "sub", Roles: []Role{RolePatient, RoleRelative}, Handle: me}
	tests := []struct {
		name    string
		p       Principal
		rel     Relation
		a       Action
		reason  string
		want    Decision
		wantErr error
	}{
		{"clinician without reason", Principal{Roles: []Role{RoleClinician}}, Relation{Patient: other}, ActionView, "", Decision{}, ErrReasonRequired},
		{"clinician with blank reason", Principal{Roles: []Role{RoleClinician}}, Relation{Patient: other}, ActionLookup, "  ", Decision{}, ErrReasonRequired},
		// Asked without a reason, a blocked patient answers as any other: the block stays secret.
		{"clinician without reason, blocked", Principal{Roles: []Role{RoleClinician}}, Relation{Patient: other, Blocked: true}, ActionView, "", Decision{}, ErrReasonRequired},
		{"reason too long", Principal{Roles: []Role{RoleClinician}}, Relation{Patient: other}, ActionView, strings.Repeat("x", MaxReasonLen+1), Decision{}, ErrInvalid},
		{"program clinician without handle", Principal{Subject: "api-key:lab", Roles: []Role{RoleClinician}}, Relation{Patient: other}, ActionLookup, "lab result", Decision{Role: RoleClinician, Restricted: true}, nil},
		{"no handles at all", Principal{Roles: []Role{RolePatient}}, Relation{}, ActionView, "", Decision{}, ErrNotVisible},
		{"empty patient", Principal{Roles: []Role{RoleClinician}}, Relation{}, ActionView, "x", Decision{}, ErrNotVisible},
		{"citizen: own as patient", citizen, Relation{Patient: me}, ActionView, "", Decision{Role: RolePatient, Restricted: true}, nil},
		{"citizen: delegated as relative", citizen, situations[1].rel, ActionView, "", Decision{Role: RoleRelative}, nil},
		{"citizen may not grant for whom they represent", citizen, situations[2].rel, ActionGrant, "", Decision{}, ErrNotVisible},
		{"delegation to someone else", Principal{Roles: []Role{RoleRelative}, Handle: "h-third"}, situations[1].rel, ActionView, "", Decision{}, ErrNotVisible},
		{"delegation from someone else", Principal{Roles: []Role{RoleRelative}, Handle: me}, Relation{Patient: "h-third", Delegations: situations[1].rel.Delegations}, ActionView, "", Decision{}, ErrNotVisible},
		{"relative and clinician: delegation first", Principal{Roles: []Role{RoleRelative, RoleClinician}, Handle: me}, Relation{Patient: other, Blocked: true, Delegations: situations[1].rel.Delegations}, ActionView, "", Decision{Role: RoleRelative}, nil},
		{"patient and admin: own", Principal{Roles: []Role{RoleAdmin, RolePatient}, Handle: me}, Relation{Patient: me}, ActionReadAudit, "", Decision{Role: RolePatient}, nil},
		{"unknown action", citizen, Relation{Patient: me}, Action("delete"), "", Decision{}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.p, tt.rel, tt.a, now, tt.reason)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if errors.Is(ErrReasonRequired, ErrNotVisible) || !errors.Is(ErrReasonRequired, ErrInvalid) || !errors.Is(ErrNotFound, ErrNotVisible) {
		t.Error("error kinds: ErrReasonRequired must be ErrInvalid only, ErrNotFound must be ErrNotVisible")
	}
}

func TestDelegationValid(t *testing.T) {
	d := Delegation{Created: now, Until: now.Add(48 * time.Hour)}
	revoked := d
	revoked.Revoked = now.Add(time.Hour)
	open := Delegation{Created: now}
	tests := []struct {
		name string
		d    Delegation
		at   time.Time
		want bool
	}{
		{"before creation", d, now.Add(-time.Second), false},
		{"at creation", d, now, true},
		{"just before the end", d, now.Add(48*time.Hour - time.Nanosecond), true},
		{"at the end", d, now.Add(48 * time.Hour), false},
		{"no end date, years later", open, now.AddDate(10, 0, 0), true},
		{"before revocation", revoked, now.Add(time.Minute), true},
		{"at revocation", revoked, now.Add(time.Hour), false},
	}
	for _, tt := range tests {
		if got := tt.d.Valid(tt.at); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}
