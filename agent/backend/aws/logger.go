package aws

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/smithy-go/logging"
)

// sdkLogger routes the SDK's own messages (warnings such as a clock skew
// or a deprecated setting) into the agent's log instead of stderr. The
// client never enables request or response body logging, so these
// messages carry no values.
type sdkLogger struct{ log *slog.Logger }

// Logf implements logging.Logger.
func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "aws sdk", "message", fmt.Sprintf(format, v...))
}
