package backfill

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress draws a backfill's or reconcile's progress on a terminal: users
// done out of the count the API gave at the start, users/s, pages, and the
// time left. A nil *Progress draws nothing.
type Progress struct {
	w     io.Writer
	verb  string
	bar   *progressbar.ProgressBar
	first int // users done before this run (a resumed backfill)
}

// NewProgress returns a progress display writing to w (a terminal); verb
// names what it counts ("backfill", "reconcile").
func NewProgress(w io.Writer, verb string) *Progress { return &Progress{w: w, verb: verb} }

func (p *Progress) start(total, done int) {
	if p == nil {
		return
	}
	p.first = done
	p.bar = progressbar.NewOptions(max(total, done, 1),
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription(p.verb),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	p.bar.Set(done)
}

func (p *Progress) update(done, pages int, elapsed time.Duration) {
	if p == nil || p.bar == nil {
		return
	}
	rate := float64(done-p.first) / max(elapsed.Seconds(), 1e-3)
	p.bar.Describe(fmt.Sprintf("%s: %.0f users/s, %d pages", p.verb, rate, pages))
	if done > p.bar.GetMax() {
		// Users created since the count: the bar grows rather than overflows.
		p.bar.ChangeMax(done)
	}
	p.bar.Set(done)
}

func (p *Progress) finish() {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Finish()
}
