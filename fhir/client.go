// Package fhir is a small FHIR R4 REST client (search with paging, read) and
// tolerant decoding on top of the samply models.
//
// Errors never carry query strings or other personal data: FHIR searches put
// the CPR number in the query, and servers echo it in their diagnostics.
package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Defaults for Options fields left at zero.
const (
	DefaultMaxPages     = 50
	DefaultMaxBodyBytes = 16 << 20
)

// errorBodyLimit bounds how much of a non-2xx body is read for its
// OperationOutcome.
const errorBodyLimit = 64 << 10

// Options tune a Client. The zero value is usable.
type Options struct {
	PageSize     int   // _count sent with searches; 0 = don't send
	MaxPages     int   // cap on pages followed per search (default 50)
	MaxBodyBytes int64 // per-response limit (default 16 MiB); a larger body is an error
}

// Client talks to one FHIR R4 server. Safe for concurrent use: it is not
// changed after NewClient.
type Client struct {
	base     *url.URL // no trailing slash
	baseDir  *url.URL // base + "/", for resolving relative next links
	hc       *http.Client
	pageSize int
	maxPages int
	maxBody  int64
}

// NewClient returns a client for the server at baseURL (absolute http or
// https, no query). A nil hc means a plain http.Client; deadlines come from
// the ctx of each call.
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
	if opts.PageSize < 0 || opts.MaxPages < 0 || opts.MaxBodyBytes < 0 {
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
	c := &Client{base: u, baseDir: &dir, hc: hc, pageSize: opts.PageSize, maxPages: opts.MaxPages, maxBody: opts.MaxBodyBytes}
	if c.maxPages == 0 {
		c.maxPages = DefaultMaxPages
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	return c, nil
}

// BaseURL returns the server's base URL as normalised by NewClient.
func (c *Client) BaseURL() string { return c.base.String() }

// SearchResult is everything a search returned.
type SearchResult struct {
	Resources []json.RawMessage // every entry[].resource in page order (match and include)
	Pages     int               // pages fetched
	Truncated bool              // MaxPages was reached while a next link remained
}

// bundlePage is the part of a search Bundle the client needs; entries stay
// raw so callers decode only what they use.
type bundlePage struct {
	ResourceType string `json:"resourceType"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// Search GETs base/{resourceType}?{params}&_count=N and follows
// Bundle.link[relation=next] (absolute, or relative to base, used exactly as
// given) until there is none. A next link already visited is ErrLoop; a next
// link to another scheme or host is ErrInvalid (it would receive the
// caller's credentials). After MaxPages pages the result so far is returned
// with Truncated set.
func (c *Client) Search(ctx context.Context, resourceType string, params url.Values) (*SearchResult, error) {
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
	u := c.base.JoinPath(resourceType)
	u.RawQuery = q.Encode()

	next := u.String()
	secrets := secretsOf(q) // hidden on every page: servers echo the first query
	visited := map[string]bool{}
	res := &SearchResult{}
	for {
		visited[next] = true
		body, err := c.get(ctx, op, next, secrets...)
		if err != nil {
			return nil, err
		}
		var page bundlePage
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", op, res.Pages+1, invalid("bundle", err))
		}
		if page.ResourceType != "Bundle" {
			return nil, fmt.Errorf("%s: page %d: got %q, want Bundle: %w", op, res.Pages+1, shortType(page.ResourceType), ErrInvalid)
		}
		res.Pages++
		for _, e := range page.Entry {
			if len(e.Resource) > 0 && string(e.Resource) != "null" {
				res.Resources = append(res.Resources, e.Resource)
			}
		}
		link := ""
		for _, l := range page.Link {
			if l.Relation == "next" && l.URL != "" {
				link = l.URL
				break
			}
		}
		if link == "" {
			return res, nil
		}
		next, err = c.resolve(link)
		if err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", op, res.Pages, err)
		}
		if visited[next] {
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
	u := c.base.JoinPath(resourceType, id)
	body, err := c.get(ctx, op, u.String(), id) // an id may be anything the caller had
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

// resolve turns a next link into the absolute URL to fetch.
func (c *Client) resolve(link string) (string, error) {
	ref, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("next link does not parse: %w", ErrInvalid)
	}
	abs := link
	if !ref.IsAbs() {
		ref = c.baseDir.ResolveReference(ref)
		abs = ref.String()
	}
	if ref.Scheme != c.base.Scheme || !strings.EqualFold(ref.Host, c.base.Host) {
		return "", fmt.Errorf("next link points to another server: %w", ErrInvalid)
	}
	return abs, nil
}

// get fetches one URL and returns its body. Every error names op, never the
// URL, and is scrubbed of the query's values.
// extra lists strings to hide beyond the URL's query values.
func (c *Client) get(ctx context.Context, op, rawURL string, extra ...string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: URL does not parse: %w", op, ErrInvalid)
	}
	secrets := append(secretsOf(u.Query()), extra...)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, scrub(unwrapURLError(err), secrets))
	}
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, transportErr(ctx, op, err, secrets)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := readBody(resp, min(c.maxBody, errorBodyLimit))
		return nil, &Error{
			Op:         op,
			StatusCode: resp.StatusCode,
			Outcome:    truncateRunes(redact(outcomeText(body), secrets), maxOutcomeRunes),
		}
	}
	if resp.ContentLength > c.maxBody {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", op, resp.ContentLength, c.maxBody, ErrTooLarge)
	}
	body, err := readBody(resp, c.maxBody)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%s: over %d bytes: %w", op, c.maxBody, err)
		}
		return nil, transportErr(ctx, op, err, secrets)
	}
	return body, nil
}

// readBody reads at most limit bytes; more is ErrTooLarge. Sized from
// Content-Length when known, so a big page is read without regrowing.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	size := int64(512)
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		size = resp.ContentLength + 1 // room to see EOF without growing
	}
	b := make([]byte, 0, size)
	r := io.LimitReader(resp.Body, limit+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// transportErr drops the URL (it holds the query) from net/http's error and
// makes a passed deadline detectable even when the transport reports it as
// something else.
func transportErr(ctx context.Context, op string, err error, secrets []string) error {
	err = scrub(unwrapURLError(err), secrets)
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
