// Package fhir is a small FHIR R4 REST client (search with paging, read),
// the authentication to sources, and tolerant decoding on top of the samply
// models.
//
// A Client holds up against real servers: it follows next links exactly as
// given and reports a page cap as SearchResult.Truncated; it retries GETs on
// 5xx, 429 and network errors with exponential backoff and full jitter (or
// the server's Retry-After), bounded in tries, in total time and by ctx's
// deadline; a circuit breaker turns a dead server into one fast
// ErrCircuitOpen instead of a timeout per request; a semaphore bounds its
// requests in flight; and it asks for gzip, with MaxBodyBytes bounding the
// decoded size too. See Options for the knobs and their defaults.
//
// NewHTTPClient builds the *http.Client a Client uses to authenticate: a
// static bearer token, OAuth2 client credentials with a client secret, SMART
// Backend Services (private_key_jwt, RS384 or ES384), each optionally with a
// client certificate (mutual TLS). Tokens are cached, renewed before they
// expire and once on a 401.
//
// Errors classify with errors.Is and errors.As: *Error (a non-2xx answer,
// with RetryAfter), ErrInvalid, ErrTooLarge, ErrLoop, ErrCircuitOpen,
// ErrAuth, and context.DeadlineExceeded. They never carry query strings,
// secrets or other personal data: FHIR searches put the CPR number in the
// query, servers echo it in their diagnostics, and token endpoints echo
// what they were sent.
package fhir

import (
	"cmp"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for Options fields left at zero.
const (
	DefaultMaxPages     = 50
	DefaultMaxBodyBytes = 16 << 20
)

// errorBodyLimit bounds how much of a non-2xx body is read for its
// OperationOutcome.
const errorBodyLimit = 64 << 10

// Options tune a Client. The zero value is usable: every zero field takes
// its default.
type Options struct {
	PageSize     int   // _count sent with searches; 0 = don't send
	MaxPages     int   // cap on pages followed per search (default 50)
	MaxBodyBytes int64 // per-response limit on the bytes received and, if gzipped, on the decoded bytes (default 16 MiB)

	// Retries of a GET on 5xx (not 501, 505), 429 and network errors, with
	// exponential backoff and full jitter, or the server's Retry-After.
	// A retry is only started if it can end before RetryBudget (counted from
	// the first try) and before ctx's deadline.
	MaxAttempts   int           // tries per request, the first included (default 3; 1 = no retries)
	BackoffBase   time.Duration // ceiling of the first backoff (default 200ms), doubling per retry
	BackoffMax    time.Duration // ceiling of any backoff (default 2s)
	MaxRetryAfter time.Duration // longest Retry-After honoured (default 5s); a longer one ends the retries
	RetryBudget   time.Duration // total time one request may spend (default 8s)

	// Circuit breaker: after BreakerThreshold consecutive failed calls (5xx,
	// 429, network errors, deadlines, each after its retries) requests fail
	// at once with ErrCircuitOpen for BreakerCooldown; then one trial try
	// (not retried) decides. Each failed trial doubles the cool-down, up to
	// BreakerCooldownMax; a good one closes the breaker and starts over.
	BreakerThreshold   int           // default 5; negative disables the breaker
	BreakerCooldown    time.Duration // default 2s
	BreakerCooldownMax time.Duration // default 8s; never less than BreakerCooldown

	MaxConcurrent int // requests in flight at once (default 8); negative = unlimited

	// Logger is told about retries (debug) and the breaker opening (warn)
	// and closing (info); nil logs nothing. Records name the operation and
	// the server, never a query.
	Logger *slog.Logger

	// Test hooks: nil means the real clock, timer and random source.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error // must return ctx.Err() when ctx ends first
	Rand  func() float64                                   // uniform in [0, 1), for jitter
}

// Client talks to one FHIR R4 server. Safe for concurrent use; only the
// breaker's state changes after NewClient.
type Client struct {
	base     *url.URL // no trailing slash
	baseDir  *url.URL // base + "/", for resolving relative next links
	hc       *http.Client
	pageSize int
	maxPages int
	maxBody  int64

	attempts      int
	backoffBase   time.Duration
	backoffMax    time.Duration
	maxRetryAfter time.Duration
	budget        time.Duration
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
	rand          func() float64
	breaker       *breaker  // nil = disabled
	sem           semaphore // nil = unlimited
	log           *slog.Logger
}

// NewClient returns a client for the server at baseURL (absolute http or
// https, no query). A nil hc means a plain http.Client; deadlines come from
// the ctx of each call. For authentication pass the client NewHTTPClient
// returns.
func NewClient(baseURL string, hc *http.Client, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Parse's error repeats the URL, which may hold credentials.
		return nil, errors.New("fhir: base URL does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("fhir: base URL must be absolute http or https")
	case u.Host == "":
		return nil, errors.New("fhir: base URL has no host")
	case u.User != nil:
		return nil, errors.New("fhir: base URL must not carry credentials; use a transport")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("fhir: base URL must not have a query or fragment")
	}
	if opts.PageSize < 0 || opts.MaxPages < 0 || opts.MaxBodyBytes < 0 || opts.MaxAttempts < 0 ||
		opts.BackoffBase < 0 || opts.BackoffMax < 0 || opts.MaxRetryAfter < 0 || opts.RetryBudget < 0 ||
		opts.BreakerCooldown < 0 || opts.BreakerCooldownMax < 0 {
		return nil, errors.New("fhir: negative option")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	dir := *u
	dir.Path += "/"
	if dir.RawPath != "" {
		dir.RawPath += "/"
	}
	if hc == nil {
		hc = &http.Client{}
	}
	c := &Client{
		base: u, baseDir: &dir, hc: hc,
		pageSize:      opts.PageSize,
		maxPages:      cmp.Or(opts.MaxPages, DefaultMaxPages),
		maxBody:       cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		attempts:      cmp.Or(opts.MaxAttempts, DefaultMaxAttempts),
		backoffBase:   cmp.Or(opts.BackoffBase, DefaultBackoffBase),
		backoffMax:    cmp.Or(opts.BackoffMax, DefaultBackoffMax),
		maxRetryAfter: cmp.Or(opts.MaxRetryAfter, DefaultMaxRetryAfter),
		budget:        cmp.Or(opts.RetryBudget, DefaultRetryBudget),
		now:           opts.Now,
		sleep:         opts.Sleep,
		rand:          opts.Rand,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.rand == nil {
		c.rand = defaultRand
	}
	c.log = opts.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("fhir_server", u.Redacted())
	if opts.BreakerThreshold >= 0 {
		c.breaker = &breaker{
			threshold:   cmp.Or(opts.BreakerThreshold, DefaultBreakerThreshold),
			cooldown:    cmp.Or(opts.BreakerCooldown, DefaultBreakerCooldown),
			maxCooldown: cmp.Or(opts.BreakerCooldownMax, DefaultBreakerCooldownMax),
			now:         c.now,
			changed: func(open bool) {
				if open {
					c.log.Warn("fhir: circuit breaker open: failing fast until the cool-down ends", "cooldown", cmp.Or(opts.BreakerCooldown, DefaultBreakerCooldown))
				} else {
					c.log.Info("fhir: circuit breaker closed: the server answers again")
				}
			},
		}
	}
	if opts.MaxConcurrent >= 0 {
		c.sem = make(semaphore, cmp.Or(opts.MaxConcurrent, DefaultMaxConcurrent))
	}
	return c, nil
}

// BreakerState reports the circuit breaker's state (always closed when it
// is disabled), for health pages and metrics.
func (c *Client) BreakerState() BreakerState { return c.breaker.State() }

// BaseURL returns the server's base URL as normalised by NewClient.
func (c *Client) BaseURL() string { return c.base.String() }

// SearchResult is everything a search returned.
type SearchResult struct {
	Resources []json.RawMessage // every entry[].resource in page order (match and include)
	Pages     int               // pages fetched
	Truncated bool              // MaxPages was reached while a next link remained
	// OverBudget: the ByteBudget of SearchWithin ran out; the page that
	// overran it and any after it are missing.
	OverBudget bool
}

// ByteBudget bounds the bytes several searches may read together, e.g.
// every page of the searches of one fetch, concurrent ones included, so a
// source cannot pile up MaxPages × MaxBodyBytes in memory. Bytes count
// after gzip decoding: what is held. Safe for concurrent use.
type ByteBudget struct {
	limit int64
	left  atomic.Int64
}

// NewByteBudget returns a budget of limit bytes.
func NewByteBudget(limit int64) *ByteBudget {
	b := &ByteBudget{limit: limit}
	b.left.Store(limit)
	return b
}

// Limit is the budget's size, for messages.
func (b *ByteBudget) Limit() int64 { return b.limit }

// errOverBudget ends a search whose ByteBudget ran out; SearchWithin turns
// it into SearchResult.OverBudget.
var errOverBudget = errors.New("byte budget spent")

// budgetReader charges what passes through to a ByteBudget.
type budgetReader struct {
	r io.Reader
	b *ByteBudget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.b.left.Add(-int64(n)) < 0 {
		return n, errOverBudget
	}
	return n, err
}

// Search GETs base/{resourceType}?{params}&_count=N and follows
// Bundle.link[relation=next] (absolute, or relative to base, used exactly as
// given) until there is none. A next link already visited is ErrLoop; a next
// link to another scheme or host is ErrInvalid (it would receive the
// caller's credentials). After MaxPages pages the result so far is returned
// with Truncated set.
//
// Every page is asked for with Prefer: handling=strict, so a server that
// does not support a parameter says so (HTTP 400, an *Error) instead of
// ignoring it: FHIR's default lenient handling turns patient= unknown to a
// server into everyone's appointments.
func (c *Client) Search(ctx context.Context, resourceType string, params url.Values) (*SearchResult, error) {
	return c.SearchWithin(ctx, nil, resourceType, params)
}

// SearchWithin is Search with the pages' bytes charged to b (nil: no
// budget). When b runs out the search stops: the pages read in full so far
// come back with OverBudget set.
func (c *Client) SearchWithin(ctx context.Context, b *ByteBudget, resourceType string, params url.Values) (*SearchResult, error) {
	if !validType(resourceType) {
		return nil, errors.New("fhir: search: invalid resource type")
	}
	op := "GET " + resourceType
	q := make(url.Values, len(params)+1)
	for k, v := range params {
		q[k] = append([]string(nil), v...)
	}
	if c.pageSize > 0 {
		q.Set("_count", strconv.Itoa(c.pageSize))
	}
	u := c.at(resourceType)
	u.RawQuery = q.Encode()

	next := u
	visited := map[string]bool{}
	res := &SearchResult{}
	for {
		visited[next.String()] = true
		if b != nil && b.left.Load() <= 0 {
			res.OverBudget = true
			return res, nil
		}
		// q is hidden on every page: servers echo the first query.
		body, err := c.get(ctx, request{op: op, u: next, search: true, budget: b, query: q})
		if errors.Is(err, errOverBudget) {
			res.OverBudget = true
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		page, err := parsePage(body)
		if err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", op, res.Pages+1, invalid("bundle", err))
		}
		if page.resourceType != "Bundle" {
			return nil, fmt.Errorf("%s: page %d: got %q, want Bundle: %w", op, res.Pages+1, shortType(page.resourceType), ErrInvalid)
		}
		res.Pages++
		res.Resources = append(res.Resources, page.resources...)
		link := page.next
		if link == "" {
			return res, nil
		}
		next, err = c.resolve(link)
		if err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", op, res.Pages, err)
		}
		if visited[next.String()] {
			return nil, fmt.Errorf("%s: page %d links to a page already fetched: %w", op, res.Pages, ErrLoop)
		}
		if res.Pages >= c.maxPages {
			res.Truncated = true
			return res, nil
		}
	}
}

// Read GETs base/{resourceType}/{id} and checks that the answer is a resource
// of that type.
func (c *Client) Read(ctx context.Context, resourceType, id string) (json.RawMessage, error) {
	if !validType(resourceType) {
		return nil, errors.New("fhir: read: invalid resource type")
	}
	op := "GET " + resourceType + "/{id}"
	if !validID(id) {
		return nil, fmt.Errorf("%s: invalid id", op)
	}
	u := c.at(resourceType, id)
	body, err := c.get(ctx, request{op: op, u: u, secrets: []string{id}}) // an id may be anything the caller had
	if err != nil {
		return nil, err
	}
	rt, err := ResourceType(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if rt != resourceType {
		return nil, fmt.Errorf("%s: got %q: %w", op, shortType(rt), ErrInvalid)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%s: malformed JSON: %w", op, ErrInvalid)
	}
	return body, nil
}

// at is the URL of base/elem...: with its path rooted, as a request's
// URL must be (JoinPath on a base without a path leaves it bare).
func (c *Client) at(elem ...string) *url.URL {
	u := c.base.JoinPath(elem...)
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/" + u.RawPath
		}
	}
	return u
}

// resolve turns a next link into the absolute URL to fetch.
func (c *Client) resolve(link string) (*url.URL, error) {
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("next link does not parse: %w", ErrInvalid)
	}
	if !ref.IsAbs() {
		ref = c.baseDir.ResolveReference(ref)
	}
	if ref.Scheme != c.base.Scheme || !strings.EqualFold(ref.Host, c.base.Host) {
		return nil, fmt.Errorf("next link points to another server: %w", ErrInvalid)
	}
	return ref, nil
}

// request is one GET.
type request struct {
	op      string      // names the request in errors, e.g. "GET Appointment"
	u       *url.URL    // never changed once asked for
	search  bool        // sends Prefer: handling=strict
	budget  *ByteBudget // charged with the body; nil for none
	secrets []string    // to hide in errors beyond the URL's query values
	query   url.Values  // a search's first query, hidden in the errors of its every page
}

// hidden is what a request's errors must not show: its URL's query values,
// and rq's query and secrets. It is worked out when an error needs it, as
// most requests have none.
type hidden struct {
	u    *url.URL
	rq   *request
	list []string
	done bool
}

func (h *hidden) secrets() []string {
	if !h.done {
		h.list = append(append(secretsOf(h.u.Query()), secretsOf(h.rq.query)...), h.rq.secrets...)
		h.done = true
	}
	return h.list
}

// get fetches one URL and returns its body, retrying as Options say. Every
// error names op, never the URL, and is scrubbed of the query's values and
// rq.secrets. A spent budget ends it with errOverBudget, not retried.
func (c *Client) get(ctx context.Context, rq request) ([]byte, error) {
	op := rq.op
	secrets := &hidden{u: rq.u, rq: &rq}
	start := c.now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		trial, err := c.breaker.allow()
		if err != nil {
			if lastErr != nil {
				return nil, lastErr // the real cause says more than "open"
			}
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		t := c.try(ctx, rq, secrets)
		// The breaker counts calls, not tries: a call failing after its
		// retries is one failure. A trial is one try and decides at once.
		if t.outcome != unhealthy || trial {
			c.breaker.record(trial, t.outcome)
		}
		if t.err == nil {
			return t.body, nil
		}
		lastErr = t.err
		if wait, ok := c.retryWait(ctx, t, attempt, start); ok && !trial {
			c.log.LogAttrs(ctx, slog.LevelDebug, "fhir: retrying", slog.String("op", op), slog.Int("attempt", attempt+1),
				slog.Duration("wait", wait), slog.String("cause", lastErr.Error()))
			if err := c.sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("%w (while waiting to retry: %w)", lastErr, err)
			}
			continue
		}
		if t.outcome == unhealthy && !trial {
			c.breaker.record(false, unhealthy)
		}
		return nil, lastErr
	}
}

// retryWait says whether try number attempt, which failed as t, gets
// another, and after how long.
func (c *Client) retryWait(ctx context.Context, t tryResult, attempt int, start time.Time) (time.Duration, bool) {
	if !t.retry || attempt >= c.attempts {
		return 0, false
	}
	wait := backoff(attempt, c.backoffBase, c.backoffMax, c.rand)
	if t.hasRetryAfter {
		if t.retryAfter > c.maxRetryAfter {
			return 0, false // the server asks for longer than we wait
		}
		wait = t.retryAfter
	}
	if c.now().Add(wait).Sub(start) > c.budget {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return 0, false // would only wake up to a passed deadline
	}
	return wait, true
}

// tryResult is one try of a GET.
type tryResult struct {
	body          []byte
	err           error
	retry         bool // worth another try
	outcome       outcome
	retryAfter    time.Duration
	hasRetryAfter bool
}

// try sends the request once, holding a concurrency slot until the body is
// read.
func (c *Client) try(ctx context.Context, rq request, h *hidden) tryResult {
	op := rq.op
	if err := c.sem.acquire(ctx); err != nil {
		return tryResult{err: transportErr(ctx, op, err, h.secrets()), outcome: neutral}
	}
	defer c.sem.release()
	// As http.NewRequestWithContext makes it, from the URL already parsed.
	req := (&http.Request{Method: http.MethodGet, URL: rq.u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 4), Host: strings.TrimSuffix(rq.u.Host, ":")}).WithContext(ctx)
	req.Header.Set("Accept", "application/fhir+json")
	if rq.search {
		req.Header.Set("Prefer", "handling=strict")
	}
	// Set by hand, so net/http leaves decoding to us and MaxBodyBytes can
	// bound the decoded size too.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.hc.Do(req)
	if err != nil {
		retry, o := classifyTransport(ctx, err)
		return tryResult{err: transportErr(ctx, op, err, h.secrets()), retry: retry, outcome: o}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := c.readBody(resp, min(c.maxBody, errorBodyLimit), nil)
		fe := &Error{
			Op:         op,
			StatusCode: resp.StatusCode,
			Outcome:    truncateRunes(Redact(outcomeText(body), h.secrets()...), maxOutcomeRunes),
		}
		t := tryResult{err: fe, outcome: healthy}
		if retryableStatus(resp.StatusCode) {
			t.retry, t.outcome = true, unhealthy
			fe.RetryAfter, t.hasRetryAfter = retryAfter(resp.Header, c.now())
			t.retryAfter = fe.RetryAfter
		}
		return t
	}
	body, err := c.readBody(resp, c.maxBody, rq.budget)
	switch {
	case err == nil:
		return tryResult{body: body, outcome: healthy}
	case errors.Is(err, errOverBudget):
		return tryResult{err: fmt.Errorf("%s: %w", op, err), outcome: healthy}
	case errors.Is(err, ErrTooLarge):
		return tryResult{err: fmt.Errorf("%s: over %d bytes: %w", op, c.maxBody, err), outcome: healthy}
	case errors.Is(err, ErrInvalid):
		return tryResult{err: fmt.Errorf("%s: %w", op, err), outcome: healthy}
	}
	retry, o := classifyTransport(ctx, err)
	return tryResult{err: transportErr(ctx, op, err, h.secrets()), retry: retry, outcome: o}
}

// readBody reads the body, gzip-decoded if so encoded, and fails with
// ErrTooLarge past limit bytes on the wire or decoded, with errOverBudget
// once budget (if not nil) is spent by the decoded bytes, and with
// ErrInvalid on an unknown encoding or a corrupt gzip stream.
func (c *Client) readBody(resp *http.Response, limit int64, budget *ByteBudget) ([]byte, error) {
	wire := &limitReader{r: resp.Body, n: limit}
	charged := func(r io.Reader) io.Reader {
		if budget == nil {
			return r
		}
		return &budgetReader{r: r, b: budget}
	}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		hint := int64(512)
		if resp.ContentLength > limit {
			return nil, ErrTooLarge // don't wait for the bytes to know
		}
		if budget != nil && resp.ContentLength > budget.left.Load() {
			return nil, errOverBudget
		}
		if resp.ContentLength > 0 {
			hint = resp.ContentLength + 1 // room to see EOF without growing
		}
		return readAll(charged(wire), hint)
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return nil, gzipErr(err)
		}
		b, err := readAll(charged(&limitReader{r: zr, n: limit}), 4096)
		if err != nil {
			return nil, gzipErr(err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q: %w", shortToken(enc), ErrInvalid)
	}
}

// gzipErr marks a corrupt stream as content trouble; a cut connection stays
// a transport error, worth a retry.
func gzipErr(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) {
		return fmt.Errorf("gzip: %w: %w", ErrInvalid, err)
	}
	return err
}

// limitReader fails with ErrTooLarge once more than n bytes come through.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1] // one byte over is enough to know
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

// readAll is io.ReadAll with a starting size, so a big page whose length is
// known is read without regrowing.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// shortToken makes a server-supplied header token safe to quote.
func shortToken(s string) string {
	if len(s) > 20 {
		return "?"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "?"
		}
	}
	return s
}

// transportErr drops the URL (it holds the query) from net/http's error and
// makes a passed deadline detectable even when the transport reports it as
// something else.
func transportErr(ctx context.Context, op string, err error, secrets []string) error {
	err = Scrub(unwrapURLError(err), secrets...)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// validType accepts FHIR resource type names ([A-Z][A-Za-z]*), which also
// keeps them safe in a path and in error text.
func validType(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// validID is the FHIR id rule: [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// shortType makes a server-supplied resourceType safe to quote in an error.
func shortType(s string) string {
	if validType(s) {
		return s
	}
	return "?"
}
