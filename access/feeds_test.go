package access_test

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
)

func TestFeedsForOwnAndDelegatedTimelinesOnly(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	if _, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Label: "Bo"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		p       access.Principal
		patient string
		want    error
	}{
		{"own", anna, anna.Handle, nil},
		{"delegated", bo, anna.Handle, nil},
		{"not delegated", anna, bo.Handle, access.ErrNotVisible},
		{"clinician", clinician, anna.Handle, access.ErrNotVisible},
		{"admin", admin, anna.Handle, access.ErrNotVisible},
		{"no subject", access.Principal{Roles: anna.Roles, Handle: anna.Handle}, anna.Handle, access.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, secret, err := s.CreateFeed(ctx, tt.p, tt.patient, "da")
			wantErr(t, "CreateFeed", err, tt.want)
			if err != nil {
				return
			}
			if f.Subject != tt.p.Subject || f.Handle != tt.p.Handle || f.Name != tt.p.Name || f.Patient != tt.patient ||
				!slices.Equal(f.Roles, tt.p.Roles) || f.Lang != "da" || !f.Created.Equal(c.now()) {
				t.Errorf("feed %+v does not remember the viewer %+v", f, tt.p)
			}
			// At least 128 bits: 32 random bytes, base64url, nothing else.
			if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) < 16 {
				t.Errorf("secret %q: %d bytes, %v", secret, len(b), err)
			}
			got, err := s.FeedBySecret(ctx, secret)
			if err != nil || got.ID != f.ID {
				t.Fatalf("FeedBySecret = %+v, %v; want feed %s", got, err, f.ID)
			}
			if p := got.Principal(); p.Subject != tt.p.Subject || p.Handle != tt.p.Handle || !slices.Equal(p.Roles, tt.p.Roles) {
				t.Errorf("the feed's principal %+v, want %+v", p, tt.p)
			}
		})
	}
	// The patient's log shows both feeds of her timeline, by whom.
	var who []string
	for _, ev := range auditLog(t, s, anna) {
		if ev.Action == access.ActionFeedCreate {
			who = append(who, ev.ActorName+"/"+string(ev.ActorRole))
		}
	}
	if want := []string{"Bo/relative", "Anna/patient"}; !slices.Equal(who, want) {
		t.Errorf("feed creations in Anna's log = %v, want %v", who, want)
	}
}

func TestFeedRotatesAndRevokes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	_, first, err := s.CreateFeed(ctx, anna, anna.Handle, "da")
	wantErr(t, "create", err, nil)
	c.advance(time.Minute)
	f, second, err := s.CreateFeed(ctx, anna, anna.Handle, "en")
	wantErr(t, "rotate", err, nil)
	if first == second {
		t.Fatal("the new feed has the old secret")
	}
	_, err = s.FeedBySecret(ctx, first)
	wantErr(t, "the old secret", err, access.ErrNotFound)
	if got, err := s.FeedBySecret(ctx, second); err != nil || got.ID != f.ID || got.Lang != "en" {
		t.Errorf("the new secret: %+v, %v", got, err)
	}
	if fs, _ := s.Feeds(ctx, anna); len(fs) != 1 || fs[0].ID != f.ID {
		t.Errorf("Feeds = %+v, want only the new one", fs)
	}

	wantErr(t, "someone else revokes", s.RevokeFeed(ctx, bo, anna.Handle), access.ErrNotFound)
	wantErr(t, "revoke", s.RevokeFeed(ctx, anna, anna.Handle), nil)
	wantErr(t, "revoke again", s.RevokeFeed(ctx, anna, anna.Handle), access.ErrNotFound)
	_, err = s.FeedBySecret(ctx, second)
	wantErr(t, "the revoked secret", err, access.ErrNotFound)
	if log := auditLog(t, s, anna); len(log) != 3 || log[0].Action != access.ActionFeedRevoke || log[0].Ref != f.ID {
		t.Errorf("Anna's log = %+v, want the revocation of %s on top of two creations", log, f.ID)
	}

	// Malformed secrets are refused without a query; so is a near miss.
	for _, bad := range []string{"", "short", second + "x", second[:len(second)-1] + "!"} {
		_, err := s.FeedBySecret(ctx, bad)
		wantErr(t, "secret "+bad, err, access.ErrNotFound)
	}
}
