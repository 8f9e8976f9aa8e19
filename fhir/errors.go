package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors let callers classify failures with errors.Is.
var (
	// ErrTooLarge: a response body was larger than Options.MaxBodyBytes.
	ErrTooLarge = errors.New("response body too large")
	// ErrInvalid: content that cannot be used: malformed JSON, a wrong or
	// missing resourceType, a search answer that is not a Bundle, a missing
	// status, a next link that leaves the server.
	ErrInvalid = errors.New("invalid FHIR content")
	// ErrLoop: a search's next link pointed at a page already fetched.
	ErrLoop = errors.New("paging loop")
	// ErrAuth: no usable credential for the server: the token endpoint
	// refused the client or answered something unusable. Not retried.
	ErrAuth = errors.New("authentication to the source failed")
)

// Error is a non-2xx answer from the server.
type Error struct {
	Op         string // e.g. "GET Appointment"; never the query string
	StatusCode int
	Outcome    string // OperationOutcome diagnostics/details, redacted and truncated; may be empty
	// RetryAfter is the server's Retry-After (429, 503), 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Outcome != "" {
		s += ": " + e.Outcome
	}
	return s
}

// maxOutcomeRunes bounds Error.Outcome: enough for a support person, short
// enough for a status page.
const maxOutcomeRunes = 300

// outcomeText joins the issue texts of an OperationOutcome body, or returns ""
// if body is not one. Own tiny struct: samply's enums would reject newer codes.
func outcomeText(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
			Details     *struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var parts []string
	for _, is := range oo.Issue {
		if d := strings.TrimSpace(is.Diagnostics); d != "" {
			parts = append(parts, d)
		}
		if is.Details != nil {
			if t := strings.TrimSpace(is.Details.Text); t != "" && t != strings.TrimSpace(is.Diagnostics) {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, "; ")
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// secretsOf lists the parts of query values that must not show up in error
// text: servers like to echo the searched identifier or name back.
func secretsOf(values map[string][]string) []string {
	var out []string
	for _, vs := range values {
		for _, v := range vs {
			for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' }) {
				if len(part) >= 3 {
					out = append(out, part)
				}
			}
			if len(v) >= 3 {
				out = append(out, v)
			}
		}
	}
	return out
}

// Redact removes the given secrets and anything shaped like a CPR number
// (ten digits, or six-dash-four) from text that came from outside: a
// server's diagnostics, a transport's error. It is the one scrubber every
// connector uses, so what counts as personal data in error text is decided
// once.
func Redact(s string, secrets ...string) string {
	// Longest first, so a whole "system|value" goes before its parts.
	for _, sec := range sortedByLen(secrets) {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return redactCPR(s)
}

func sortedByLen(ss []string) []string {
	out := slices.Clone(ss)
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func redactCPR(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		end, n := j, j-i
		if n == 6 && j+5 <= len(s) && s[j] == '-' && allDigits(s[j+1:j+5]) && (j+5 == len(s) || !isDigit(s[j+5])) {
			end, n = j+5, 10
		}
		if n == 10 {
			b.WriteString("***")
		} else {
			b.WriteString(s[i:end])
		}
		i = end
	}
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// scrubbed is an error whose text was redacted; Unwrap gives the original.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Scrub is Redact for an error: its text hides the secrets and anything
// shaped like a CPR number, and its chain stays, so errors.Is(err,
// context.DeadlineExceeded) and errors.As still work. nil stays nil.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := Redact(msg, secrets...); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

// invalid wraps a decoding problem as ErrInvalid, scrubbed: encoding/json
// quotes numbers it could not place, and a CPR sent as a number would leak.
func invalid(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%s: %w", what, ErrInvalid)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrInvalid, Scrub(err))
}
