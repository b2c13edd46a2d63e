package cli

import (
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// Log levels and formats every command takes.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "text"}
)

// LogOptions are the --log-level and --log-format flags.
type LogOptions struct {
	Level  string
	Format string
}

// AddLogFlags declares --log-level (default info) and --log-format
// (default format) on fs.
func AddLogFlags(fs *pflag.FlagSet, format string) *LogOptions {
	o := &LogOptions{}
	o.AddFlags(fs, format)
	return o
}

// AddFlags declares --log-level (default info) and --log-format (default
// format) on fs, bound to o.
func (o *LogOptions) AddFlags(fs *pflag.FlagSet, format string) {
	EnumVarP(fs, &o.Level, "log-level", "", "info", LogLevels, "least severe log level written")
	EnumVarP(fs, &o.Format, "log-format", "", format, LogFormats, "log format: json (one object a line, for a log pipeline) or text (key=value)")
}

// Logger returns the logger the options describe, writing to w.
func (o LogOptions) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		level = slog.LevelInfo
	}
	h := &slog.HandlerOptions{Level: level}
	if o.Format == "text" {
		return slog.New(slog.NewTextHandler(w, h))
	}
	return slog.New(slog.NewJSONHandler(w, h))
}
