package main

import (
	"context"
	"fmt"
	"log/slog"
)

// redisLog sends go-redis's own messages (connection failures while Redis
// is away) to our structured log instead of its global stderr logger. They
// hold addresses and errors, never keys or values.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}
