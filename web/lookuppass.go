package web

import (
	"sync"
	"time"
)

// A clinician's look-up follows POST with a redirect (Post/Redirect/Get):
// the form posts the CPR number and the reason, the look-up is decided and
// audited, and the answer is 303 to /clinician/p/{handle}, so a reload and
// the address bar hold only the opaque handle. The reason stays on the
// server: the look-up leaves a pass for that handle to that session, which
// the page reads; each showing of the page is a view audited with that
// reason. Another session (a colleague given the address) has no pass and
// is asked for a reason of their own.
//
// Passes live in this process: behind a load balancer without sticky
// sessions, a page served by another replica asks for the reason again,
// which costs a click, never an unaudited view.

// lookupPassFor is how long a pass lets a session reopen the page.
const lookupPassFor = 15 * time.Minute

// maxLookupPasses bounds the passes a replica keeps; at the bound it drops
// the expired ones, and all if none expired.
const maxLookupPasses = 10_000

type passKey struct{ session, handle string }

type lookupPass struct {
	reason string
	until  time.Time
}

type lookupPasses struct {
	mu sync.Mutex
	m  map[passKey]lookupPass
}

// put lets session open handle's page with reason until now+lookupPassFor.
func (p *lookupPasses) put(session, handle, reason string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[passKey]lookupPass{}
	}
	if len(p.m) >= maxLookupPasses {
		for k, v := range p.m {
			if !now.Before(v.until) {
				delete(p.m, k)
			}
		}
		if len(p.m) >= maxLookupPasses {
			p.m = map[passKey]lookupPass{}
		}
	}
	p.m[passKey{session, handle}] = lookupPass{reason: reason, until: now.Add(lookupPassFor)}
}

// get is the reason session gave for handle, while its pass lasts.
func (p *lookupPasses) get(session, handle string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[passKey{session, handle}]
	if !ok || !now.Before(v.until) {
		delete(p.m, passKey{session, handle})
		return "", false
	}
	return v.reason, true
}

// sessionKey names the caller's login session for passes: the subject and
// the session's own form token, so a pass is not shared by two logins of
// one person. "" for callers without a session (API keys, bearer tokens),
// who give their reason with each request.
func sessionKey(id Identity) string {
	if !id.Session || id.CSRF == "" {
		return ""
	}
	return id.Principal.Subject + "\x00" + id.CSRF
}
