package aggregator

import "net/url"

// SafeURL returns raw, re-serialised, when it is a link a patient may be
// sent to: an absolute https URL with a host and without credentials. It
// returns "" for anything else (javascript:, data:, http:, a relative or
// malformed URL, https://user:pass@host/), so a hostile or careless source
// cannot put a script or a phishing login behind a "join the video call"
// button in any output.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return ""
	}
	return u.String()
}
