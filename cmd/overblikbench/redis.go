package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator/rediscache"
)

// benchRedis is a Redis client and a key prefix of this run's own, whose
// keys are deleted by cleanup.
type benchRedis struct {
	url    string
	prefix string
	rdb    redis.UniversalClient
}

func openRedis(ctx context.Context, url string) (*benchRedis, error) {
	rdb, err := rediscache.NewClient(url)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("the Redis rows need a Redis (-redis): %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &benchRedis{url: url, prefix: "overblikbench:" + hex.EncodeToString(b[:]) + ":", rdb: rdb}, nil
}

// cache opens a cache under the run's prefix on a client of its own, as a
// replica has; closing closes both.
func (r *benchRedis) cache(log *slog.Logger) (*rediscache.Cache, func(), error) {
	rdb, err := rediscache.NewClient(r.url)
	if err != nil {
		return nil, nil, err
	}
	c, err := rediscache.New(rdb, rediscache.Options{Prefix: r.prefix, PollInterval: 20 * time.Millisecond, Logger: log})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return c, func() { rdb.Close() }, nil
}

// backend opens the product's back end (Redis behind the fallback) under the
// run's prefix on a client of its own, as serve does; close closes both.
func (r *benchRedis) backend(log *slog.Logger) (*rediscache.Backend, redis.UniversalClient, func(), error) {
	rdb, err := rediscache.NewClient(r.url)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := rediscache.NewBackend(rdb, rediscache.Options{Prefix: r.prefix, PollInterval: 20 * time.Millisecond, Logger: log},
		rediscache.FallbackOptions{Logger: log})
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	return b, rdb, func() { b.Close(); rdb.Close() }, nil
}

// sub is the run's Redis under a prefix of its own below the run's, for a
// row whose keys drop deletes when it is done; the client is shared.
func (r *benchRedis) sub(name string) *benchRedis {
	return &benchRedis{url: r.url, prefix: r.prefix + name, rdb: r.rdb}
}

// drop deletes every key under the prefix (on every master of a Cluster).
func (r *benchRedis) drop(ctx context.Context) {
	del := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			// One at a time on a Cluster: the keys are on many slots.
			_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys[:n] {
					p.Unlink(ctx, k)
				}
				return nil
			})
			keys = keys[n:]
		}
		return iter.Err()
	}
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return del(ctx, m) })
		return
	}
	_ = del(ctx, r.rdb)
}

func (r *benchRedis) cleanup(ctx context.Context) {
	r.drop(ctx)
	_ = r.rdb.Close()
}

// redisRows measures the cached timeline JSON read through Redis (the
// product as deployed: a Fallback over Redis) next to a bare Echo handler
// that does one go-redis GET of the same bytes and writes them.
func redisRows(ctx context.Context, r *benchRedis, cfg config, loc *time.Location, log *slog.Logger) ([]row, error) {
	b, _, closeBackend, err := r.backend(log)
	if err != nil {
		return nil, err
	}
	defer closeBackend()
	fb := b.Fallback
	d, stop, err := demoService(loc, log, b.Backend)
	if err != nil {
		return nil, err
	}
	defer stop()
	jsonURL, _, _, err := d.warm(ctx)
	if err != nil {
		return nil, err
	}
	body, err := getBytes(jsonURL)
	if err != nil {
		return nil, err
	}
	key := r.prefix + "baseline"
	if err := r.rdb.Set(ctx, key, body, 0).Err(); err != nil {
		return nil, err
	}
	brdb, err := rediscache.NewClient(r.url) // the baseline's own client, as the product has its own
	if err != nil {
		return nil, err
	}
	defer brdb.Close()
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		b, err := brdb.Get(c.Request().Context(), key).Bytes()
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
	})
	baseURL, stopBase, err := serve(e)
	if err != nil {
		return nil, err
	}
	defer stopBase()
	base, err := load(ctx, baseURL, cfg.conns, cfg.dur)
	if err != nil {
		return nil, fmt.Errorf("redis baseline: %w", err)
	}
	prod, err := load(ctx, jsonURL, cfg.conns, cfg.dur)
	if err != nil {
		return nil, fmt.Errorf("cached timeline JSON (Redis): %w", err)
	}
	if !fb.Healthy() {
		return nil, fmt.Errorf("the product lost Redis during the run and served from memory: the row would not measure Redis")
	}
	return []row{
		{name: fmt.Sprintf("baseline: Echo + go-redis GET of %d bytes", len(body)), res: base},
		{name: "cached timeline JSON (Redis)", res: prod, baseline: &base, target: 0.80},
	}, nil
}

func getBytes(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
