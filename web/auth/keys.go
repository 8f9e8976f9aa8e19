package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the provider's signing keys for the token verifiers. go-oidc's
// own key set fetches the keys again for every token its cached keys do not
// verify, so anyone could make each request cost a fetch from the provider
// with forged tokens. This one fetches them again only for a key ID it does
// not know (the provider rotated its keys), and at most once a minute.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	algs   []jose.SignatureAlgorithm

	keys    atomic.Pointer[[]jose.JSONWebKey]
	fetchMu sync.Mutex // one fetch at a time
	fetched time.Time  // of the last fetch, under fetchMu
}

const (
	keysRefetchEvery = time.Minute
	keysFetchTimeout = 10 * time.Second
	keysMaxBytes     = 1 << 20
)

func newKeySet(ctx context.Context, url string, client *http.Client, algs []string, now func() time.Time) (*keySet, error) {
	k := &keySet{url: url, client: client, now: now}
	for _, a := range algs {
		k.algs = append(k.algs, jose.SignatureAlgorithm(a))
	}
	if len(k.algs) == 0 {
		k.algs = []jose.SignatureAlgorithm{jose.RS256} // the one OpenID Connect requires
	}
	k.keys.Store(&[]jose.JSONWebKey{})
	if _, err := k.refresh(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload, known, err := verifyWith(*k.keys.Load(), kid, jws); known {
		return payload, err
	}
	keys, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	if payload, known, err := verifyWith(keys, kid, jws); known {
		return payload, err
	}
	return nil, errors.New("signed with a key the provider does not publish")
}

// verifyWith checks the signature with the keys of the token's key ID (all
// keys when it names none); known says whether there was any such key.
func verifyWith(keys []jose.JSONWebKey, kid string, jws *jose.JSONWebSignature) (payload []byte, known bool, err error) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		known = true
		if p, err := jws.Verify(&key); err == nil {
			return p, true, nil
		}
	}
	if known {
		return nil, true, errors.New("bad signature")
	}
	return nil, false, nil
}

// refresh fetches the keys unless that was done within the last minute, and
// returns what is known then.
func (k *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	now := k.now()
	if !k.fetched.IsZero() && now.Sub(k.fetched) < keysRefetchEvery {
		return *k.keys.Load(), nil
	}
	k.fetched = now
	// Not the caller's deadline: a request given up on must not leave the
	// keys unrefreshed for a minute.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keysFetchTimeout)
	defer cancel()
	keys, err := k.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider's keys: %w", err)
	}
	k.keys.Store(&keys)
	return keys, nil
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d", k.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, keysMaxBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode %s: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if (key.Use == "" || key.Use == "sig") && key.IsPublic() && key.Valid() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// names are the algorithms the verifiers accept.
func (k *keySet) names() []string {
	out := make([]string, len(k.algs))
	for i, a := range k.algs {
		out[i] = string(a)
	}
	return out
}
