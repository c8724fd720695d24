package importer

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress draws an import's progress on a terminal. For a file of known
// size the bar follows the bytes loaded, which gives an honest ETA; for
// stdin it shows rows and rows/s. A nil *Progress draws nothing.
type Progress struct {
	bar   *progressbar.ProgressBar
	start time.Time
	sized bool
	bytes int64 // the furthest batch loaded: batches finish out of order
}

// NewProgress returns a progress display writing to w (a terminal); size is
// the input's size in bytes, or 0 when unknown (stdin).
func NewProgress(w io.Writer, size int64) *Progress {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if size <= 0 {
		// No spinner ticker: its goroutine reads the bar's state without
		// the bar's lock (a data race in progressbar v3.19.1); the spinner
		// turns at each batch instead.
		opts = append(opts, progressbar.OptionSpinnerType(14), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetSpinnerChangeInterval(0))
		return &Progress{bar: progressbar.NewOptions64(-1, opts...), start: time.Now()}
	}
	opts = append(opts, progressbar.OptionSetPredictTime(true), progressbar.OptionShowBytes(false))
	return &Progress{bar: progressbar.NewOptions64(size, opts...), start: time.Now(), sized: true}
}

func (p *Progress) update(rows int, bytes int64) {
	if p == nil {
		return
	}
	if !p.sized {
		p.bar.Set(rows)
		return
	}
	rate := float64(rows) / max(time.Since(p.start).Seconds(), 1e-3)
	p.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s", rows, rate))
	p.bytes = max(p.bytes, bytes)
	p.bar.Set64(p.bytes)
}

func (p *Progress) finish() {
	if p == nil {
		return
	}
	p.bar.Finish()
}
