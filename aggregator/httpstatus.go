package aggregator

import "net/http"

// KindForHTTPStatus is the kind of failure of a source that answered an
// HTTP request with a status other than 2xx. Every connector that speaks
// HTTP maps statuses with it, and sourcetest checks each against it, so a
// status means the same on every source's status line:
//
//   - 401, 403: Unauthorized (our credentials, or their lack);
//   - 404, 410: NotFound (what we asked for is not there, or no longer);
//   - 408, 425, 429 and 5xx: Unavailable (busy or broken; may pass);
//   - anything else (400, 405, 422, a stray 3xx, ...): Invalid, as the
//     source did not understand us or we it.
func KindForHTTPStatus(code int) ErrorKind {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Unauthorized
	case code == http.StatusNotFound || code == http.StatusGone:
		return NotFound
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests ||
		code >= 500 && code <= 599:
		return Unavailable
	}
	return Invalid
}
