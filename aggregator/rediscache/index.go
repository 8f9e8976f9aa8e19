package rediscache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// The conflict index (aggregator.ConflictIndex), kept by Put. Its keys share
// one hash tag, so a Cluster keeps them on one slot and one script updates
// them together:
//
//	{worklist}:days      members "YYYY-MM-DD|handle", all scored 0: a
//	                     ZRANGEBYLEX over [from, to] is the patients with a
//	                     conflict in the period, whatever its length
//	{worklist}:org:<o>   the same for the patients with an entry from the
//	                     organisation o names (orgTerm)
//	{worklist}:of        per handle its record "expires;days;orgs", which
//	                     says what to take out at its next Put
//	{worklist}:exp       handles scored by when their timeline expires, so
//	                     the index forgets timelines Redis let expire
//
// A patient without conflicts has no record and costs one look. The index
// is written before the timeline: a Put that fails half way leaves at worst
// a member whose timeline has no such conflict, which a worklist reading the
// timeline leaves out, never a conflict missing. Two Puts of one patient at
// once (which the refresh lease prevents) may leave the index with the
// terms of the one whose timeline lost, until the next Put.
//
// Most builds leave a patient's terms as they were, so the lease holder's
// Put skips the script when this replica wrote those very terms with the
// timeline the lease found stored (indexMemo), less than indexRewrite ago: a
// record written at T lasts until T + TTL + indexRewrite, so it outlives
// every timeline stored under it. The index then forgets a patient whose
// timeline expired up to indexRewrite late (a worklist reads the stored
// conflicts of those it names and leaves such a member out), and terms a
// failover lost come back within indexRewrite.

func (c *Cache) indexKey(part string) string { return c.prefix + "{worklist}:" + part }

// orgTerm names an organisation in the index: a hash of its folded name,
// keyed by the seal key when there is one, so the index tells no more than
// the sealed timelines which organisations a patient sees.
func (c *Cache) orgTerm(org string) string {
	var sum []byte
	if c.codec.seal != nil {
		m := hmac.New(sha256.New, c.codec.seal)
		m.Write([]byte("worklist organisation\x00" + org))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(org))
		sum = s[:]
	}
	return hex.EncodeToString(sum[:8])
}

// indexPrune is how many expired patients one script forgets at most.
const indexPrune = 100

// indexLua is shared by the scripts: drop(h) takes h's members out and
// forgets its record; prune(now) drops patients whose timeline expired.
// KEYS[1] is the record hash, KEYS[2] the days, KEYS[3] the expiries; org
// keys are ARGV[1] .. term, on the same slot.
var indexLua = `
local function split(s)
	local out = {}
	for x in string.gmatch(s or "", "[^,]+") do out[#out + 1] = x end
	return out
end
local function drop(h, rec)
	local _, _, days, orgs = string.find(rec, "^[^;]*;([^;]*);(.*)$")
	local ds, og = split(days), split(orgs)
	for _, d in ipairs(ds) do
		redis.call("ZREM", KEYS[2], d .. "|" .. h)
		for _, o in ipairs(og) do redis.call("ZREM", ARGV[1] .. o, d .. "|" .. h) end
	end
	redis.call("HDEL", KEYS[1], h)
	redis.call("ZREM", KEYS[3], h)
end
local function prune(now)
	local gone = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", now, "LIMIT", 0, ` + strconv.Itoa(indexPrune) + `)
	for _, h in ipairs(gone) do
		local rec = redis.call("HGET", KEYS[1], h)
		if rec then drop(h, rec) else redis.call("ZREM", KEYS[3], h) end
	end
end
`

// indexPutScript: ARGV org key prefix, handle, expires (ms), now (ms),
// days, organisation terms (both comma-separated).
var indexPutScript = redis.NewScript(indexLua + `
local h = ARGV[2]
local rec = redis.call("HGET", KEYS[1], h)
if rec then drop(h, rec) end
local ds, og = split(ARGV[5]), split(ARGV[6])
if #ds > 0 then
	for _, d in ipairs(ds) do
		redis.call("ZADD", KEYS[2], 0, d .. "|" .. h)
		for _, o in ipairs(og) do redis.call("ZADD", ARGV[1] .. o, 0, d .. "|" .. h) end
	end
	redis.call("HSET", KEYS[1], h, ARGV[3] .. ";" .. ARGV[5] .. ";" .. ARGV[6])
	redis.call("ZADD", KEYS[3], ARGV[3], h)
end
prune(ARGV[4])
return 1`)

// indexQueryScript: KEYS[4] the days or an organisation's set; ARGV org
// key prefix, now (ms), from, to, limit (0: none). It forgets expired
// patients first, then returns each patient with a member in [from, to]
// once.
var indexQueryScript = redis.NewScript(indexLua + `
prune(ARGV[2])
local out, seen, offset, limit = {}, {}, 0, tonumber(ARGV[5])
while true do
	local ms = redis.call("ZRANGEBYLEX", KEYS[4], "[" .. ARGV[3] .. "|", "(" .. ARGV[4] .. "}", "LIMIT", offset, 500)
	for _, m in ipairs(ms) do
		local h = string.sub(m, 12)
		if not seen[h] then
			seen[h] = true
			out[#out + 1] = h
			if limit > 0 and #out >= limit then return out end
		end
	end
	if #ms < 500 then return out end
	offset = offset + 500
end`)

// indexRewrite bounds how long the index record of a patient is left as
// it is while its terms do not change (see the comment at the top); a
// quarter of the TTL when that is shorter.
const indexRewrite = time.Hour

func (c *Cache) indexRewrite() time.Duration { return min(indexRewrite, c.ttl/4) }

// indexMemoMax bounds the patients an indexMemo remembers; one forgotten
// costs its next Put the script.
const indexMemoMax = 100_000

// indexTerms are t's index terms, organisations as the index names them.
type indexTerms struct{ days, orgs string }

func (c *Cache) indexTerms(t *aggregator.Timeline) indexTerms {
	days, orgs := aggregator.IndexTerms(t)
	for i, o := range orgs {
		orgs[i] = c.orgTerm(o)
	}
	return indexTerms{days: strings.Join(days, ","), orgs: strings.Join(orgs, ",")}
}

// index writes terms for handle at now (see the comment at the top).
func (c *Cache) index(ctx context.Context, handle string, terms indexTerms, now time.Time) error {
	err := indexPutScript.Run(ctx, c.rdb, []string{c.indexKey("of"), c.indexKey("days"), c.indexKey("exp")},
		c.indexKey("org:"), handle, now.Add(c.ttl+c.indexRewrite()).UnixMilli(), now.UnixMilli(),
		terms.days, terms.orgs).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("rediscache: index conflicts of %s: %w", handle, err)
	}
	return nil
}

// indexMemo is what this replica last wrote to the index per patient: the
// terms, when, and the stamp of the timeline it stored with them. While
// that timeline is the stored one (the lease says which is), the index
// holds those terms, as no other Put came between.
type indexMemo struct {
	mu sync.Mutex
	m  map[string]indexed
}

type indexed struct {
	terms indexTerms
	at    time.Time
	stamp string
}

// current says whether the index holds terms for handle as this replica
// wrote them less than rewrite before now, with the timeline of stamp,
// and returns when they were written.
func (m *indexMemo) current(handle string, terms indexTerms, stamp string, now time.Time, rewrite time.Duration) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.m[handle]
	if !ok || stamp == "" || it.stamp != stamp || it.terms != terms || now.Sub(it.at) >= rewrite || now.Before(it.at) {
		return time.Time{}, false
	}
	return it.at, true
}

func (m *indexMemo) put(handle string, it indexed) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= indexMemoMax {
		m.m = make(map[string]indexed)
	}
	m.m[handle] = it
}

// forget drops handle's memo: its Put failed after the index may have
// changed.
func (m *indexMemo) forget(handle string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, handle)
}

// Conflicted reads the members of the period from the days, or from the
// organisation's set: its cost follows the answer.
func (c *Cache) Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error) {
	set := c.indexKey("days")
	if organization != "" {
		set = c.indexKey("org:" + c.orgTerm(organization))
	}
	hs, err := indexQueryScript.Run(ctx, c.rdb, []string{c.indexKey("of"), c.indexKey("days"), c.indexKey("exp"), set},
		c.indexKey("org:"), time.Now().UnixMilli(), from, to, max(limit, 0)).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: patients with conflicts: %w", err)
	}
	return hs, nil
}

// ConflictedAmong reads the records of handles: one round trip.
func (c *Cache) ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	recs, err := c.rdb.HMGet(ctx, c.indexKey("of"), handles...).Result()
	if err != nil {
		return nil, fmt.Errorf("rediscache: patients with conflicts: %w", err)
	}
	now := time.Now().UnixMilli()
	seen := map[string]bool{}
	var out []string
	for i, r := range recs {
		rec, _ := r.(string)
		h := handles[i]
		if rec == "" || seen[h] {
			continue
		}
		parts := strings.Split(rec, ";")
		if len(parts) != 3 {
			continue
		}
		if exp, err := strconv.ParseInt(parts[0], 10, 64); err != nil || exp <= now {
			continue // expired: the next script forgets it
		}
		for d := range strings.SplitSeq(parts[1], ",") {
			if d >= from && d <= to {
				seen[h] = true
				out = append(out, h)
				break
			}
		}
	}
	return out, nil
}
