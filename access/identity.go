package access

import "errors"

// Identity is who sent a request, as authentication (package auth)
// established it, for web to act on: the principal access decides for, and
// what the request's credential was.
type Identity struct {
	Principal Principal
	// CSRF is the session's form token, which every state-changing form
	// must carry; empty for a bearer token, which a browser never sends by
	// itself.
	CSRF string
	// Session is true for a browser session cookie, false for a bearer
	// token or API key.
	Session bool
}

// ErrBadCredentials is a presented credential that is not accepted: web
// answers 401.
var ErrBadCredentials = errors.New("bad credentials")
