package results

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Live is the progress display of a notebook's training cell: a status line
// and two charts — training loss and evaluation accuracy against epochs, one
// line per run — re-drawn through Update as training goes. Feed it from the
// experiments' hooks (Step, Epoch) and end with Done(records), which also
// draws the runs that were not trained here (their records existed).
//
// Loss points are means over stretches of training (about 20 per epoch while
// a run is followed live; one per epoch, the record's, otherwise), drawn at
// the middle of their stretch: a point at x = 1.5 is the mean loss of the
// second epoch. Accuracy is drawn at the end of each epoch. Live is not safe
// for concurrent use (the hooks are called from one goroutine).
type Live struct {
	Title  string   // e.g. "MNIST"
	Metric string   // what the accuracy is measured on, e.g. "test accuracy" (default) or "dev accuracy"
	Runs   []string // the runs expected, as the hooks name them ("mnist/lora/seed0"), in order
	// Update receives the display's HTML (e.g. gonbui.UpdateHTML with a fixed id).
	Update func(html string)
	// Interval is the least time between two re-draws triggered by Step (default 2 s):
	// a saved notebook keeps only the last one. Epoch and Done always re-draw.
	Interval time.Duration

	runs       map[string]*liveRun
	current    string
	stamp      time.Time // the time of the last Step
	lastDraw   time.Time
	done       string // status line once Done
	now        func() time.Time
	chartWidth int
}

type liveRun struct {
	name             string
	lossX, lossY     []float64
	accX, accY       []float64
	chunkSum         float64
	chunkFrom, chunk int // steps of the open stretch: (chunkFrom, chunkFrom+chunk]
	epoch, epochs    int
	step, steps      int
	loss, exPerSec   float64
	epochStart       time.Time
	live, finished   bool
	failed           string
}

func (l *Live) init() {
	if l.runs == nil {
		l.runs = map[string]*liveRun{}
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.Interval <= 0 {
		l.Interval = 2 * time.Second
	}
}

func (l *Live) run(name string) *liveRun {
	l.init()
	r, ok := l.runs[name]
	if !ok {
		r = &liveRun{name: name}
		l.runs[name] = r
	}
	return r
}

// Step records one training step and re-draws when Interval has passed since the last draw.
func (l *Live) Step(run string, epoch, epochs, step, steps int, loss, examplesPerSec float64) {
	r := l.run(run)
	now := l.now()
	l.stamp = now
	if step == 1 || r.epoch != epoch {
		r.epochStart, r.chunkSum, r.chunkFrom, r.chunk = now, 0, step-1, 0
	}
	r.live, l.current = true, run
	r.epoch, r.epochs, r.step, r.steps, r.loss, r.exPerSec = epoch, epochs, step, steps, loss, examplesPerSec
	if finite(loss) {
		r.chunkSum += loss
	}
	r.chunk++
	if r.chunk >= max(steps/20, 1) || step == steps {
		mid := float64(epoch-1) + (float64(r.chunkFrom)+float64(r.chunkFrom+r.chunk))/2/float64(steps)
		r.lossX, r.lossY = append(r.lossX, mid), append(r.lossY, r.chunkSum/float64(r.chunk))
		r.chunkFrom, r.chunkSum, r.chunk = step, 0, 0
	}
	if now.Sub(l.lastDraw) >= l.Interval {
		l.draw(now)
	}
}

// Epoch records an epoch's evaluation (accuracy a fraction) and re-draws.
func (l *Live) Epoch(run string, epoch, epochs int, trainLoss, accuracy, seconds float64) {
	r := l.run(run)
	r.epoch, r.epochs = epoch, epochs
	if !r.live { // no steps seen (a resumed run's first report): the epoch's mean loss
		r.lossX, r.lossY = append(r.lossX, float64(epoch)-0.5), append(r.lossY, trainLoss)
	}
	r.accX, r.accY = append(r.accX, float64(epoch)), append(r.accY, 100*accuracy)
	r.step, r.finished = r.steps, epoch == epochs
	l.current = run
	l.draw(l.now())
}

// Done draws the final state from the records of every run (those trained
// here keep the detail seen live; the others are drawn from their records).
func (l *Live) Done(records []*Record) {
	l.init()
	trained, loaded, failed := 0, 0, 0
	var failures []string
	for _, rec := range records {
		if rec == nil {
			continue
		}
		r := l.run(RunName(rec))
		if !r.live {
			r.lossX, r.lossY, r.accX, r.accY = nil, nil, nil, nil
		}
		// The record's epochs not seen live: all of them, or those before a resumed run's restart.
		seen := map[int]bool{}
		for _, x := range r.accX {
			seen[int(x)] = true
		}
		for _, e := range rec.Epochs {
			if seen[e.Epoch] {
				continue
			}
			r.lossX, r.lossY = append(r.lossX, float64(e.Epoch)-0.5), append(r.lossY, e.TrainLoss)
			if a := l.epochAccuracy(e); a != nil {
				r.accX, r.accY = append(r.accX, float64(e.Epoch)), append(r.accY, 100**a)
			}
		}
		sortXY(r.lossX, r.lossY)
		sortXY(r.accX, r.accY)
		r.epochs = max(r.epochs, len(rec.Epochs))
		r.finished = true
		switch {
		case !rec.Complete():
			failed++
			r.failed = rec.Error
			failures = append(failures, fmt.Sprintf("%s: %s", RunName(rec), truncate(rec.Error, 200)))
		case r.live:
			trained++
		default:
			loaded++
		}
	}
	l.done = fmt.Sprintf("%d run(s) done: %d trained now, %d read from records that existed (not run again)", trained+loaded+failed, trained, loaded)
	if failed > 0 {
		l.done += fmt.Sprintf("; %d FAILED — %s", failed, strings.Join(failures, "; "))
	}
	if missing := len(l.Runs) - len(records); missing > 0 {
		l.done += fmt.Sprintf("; %d run(s) without a record", missing)
	}
	l.current = ""
	l.draw(l.now())
}

func (l *Live) draw(now time.Time) {
	l.lastDraw = now
	if l.Update != nil {
		l.Update(l.HTML())
	}
}

// RunName names a record's run the way the experiments' hooks do:
// "mnist/lora/seed0", "sst2/morph-fixture+cached+bucketed/seed1".
func RunName(r *Record) string {
	m := r.Method
	if r.Variant != "" {
		m += "-" + r.Variant
	}
	return fmt.Sprintf("%s/%s/seed%d", r.Dataset, m, r.Seed)
}

// order is Runs, then any other run seen, in the order seen.
func (l *Live) order() []*liveRun {
	var out []*liveRun
	seen := map[string]bool{}
	for _, n := range l.Runs {
		if !seen[n] {
			seen[n] = true
			out = append(out, l.run(n))
		}
	}
	var extra []string
	for n := range l.runs {
		if !seen[n] {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range extra {
		out = append(out, l.runs[n])
	}
	return out
}

// HTML is the display: the status line and the two charts side by side.
func (l *Live) HTML() string {
	l.init()
	runs := l.order()
	var b strings.Builder
	b.WriteString(`<div class="morphreuse-live">`)
	b.WriteString(`<p style="font-family: monospace; margin: 0.3em 0">` + esc(l.status(runs)) + "</p>\n")
	metric := l.Metric
	if metric == "" {
		metric = "test accuracy"
	}
	title := l.Title
	if title != "" {
		title += ": "
	}
	w := l.chartWidth
	if w == 0 {
		w = 480
	}
	epochs := 0
	for _, r := range runs {
		epochs = max(epochs, r.epochs)
	}
	// Both charts span epochs 0 to the last, so that they line up and a run in its first epoch is drawn in context.
	loss := LineChart{Title: title + "training loss", XLabel: "epochs of training", YLabel: "training loss", IntegerX: true,
		Width: w, Height: 320, XFrom: 0, XTo: float64(epochs)}
	acc := LineChart{Title: title + metric + " after each epoch", XLabel: "epoch", YLabel: metric + " (%)", IntegerX: true,
		Width: w, Height: 320, XFrom: 0, XTo: float64(epochs)}
	labels := liveLabels(runs)
	for i, r := range runs {
		color := SeriesColor(liveMethod(r.name))
		if len(r.lossX) > 0 {
			loss.Series = append(loss.Series, Series{Name: labels[i], X: r.lossX, Y: r.lossY, Color: color})
		}
		if len(r.accX) > 0 {
			acc.Series = append(acc.Series, Series{Name: labels[i], X: r.accX, Y: r.accY, Color: color})
		}
	}
	b.WriteString(SideBySide(loss.SVG(), acc.SVG()))
	b.WriteString("</div>\n")
	return b.String()
}

// SideBySide lays out charts (or any HTML) in a row, wrapping onto the next
// line where the page is too narrow for them (viewers that drop inline
// styles, such as GitHub's, stack them instead).
func SideBySide(parts ...string) string {
	var b strings.Builder
	b.WriteString(`<div style="display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start">`)
	for _, p := range parts {
		b.WriteString(`<div style="flex: 0 1 auto; min-width: 0; max-width: 100%">` + p + "</div>")
	}
	b.WriteString("</div>\n")
	return b.String()
}

// status is one line: the run in progress, or the end state.
func (l *Live) status(runs []*liveRun) string {
	if l.done != "" {
		return l.done
	}
	r, ok := l.runs[l.current]
	if !ok {
		return fmt.Sprintf("waiting for the first of %d run(s)…", len(l.Runs))
	}
	pos := ""
	for i, o := range runs {
		if o == r {
			pos = fmt.Sprintf("run %d/%d ", i+1, len(runs))
		}
	}
	s := fmt.Sprintf("%s%s · epoch %d/%d", pos, r.name, r.epoch, r.epochs)
	if r.step < r.steps {
		s += fmt.Sprintf(" · step %d/%d · loss %.4f · %.0f examples/s", r.step, r.steps, r.loss, r.exPerSec)
		if r.step > 0 && !r.epochStart.IsZero() {
			elapsed := l.stamp.Sub(r.epochStart).Seconds()
			s += " · epoch ends in ~" + formatDuration(elapsed/float64(r.step)*float64(r.steps-r.step))
		}
	} else if n := len(r.accY); n > 0 {
		s += fmt.Sprintf(" done · accuracy %.2f%%", r.accY[n-1])
	}
	return s
}

// liveMethod is the method a run name starts with: the longest known method
// that its middle part is, or begins with followed by "-" (a variant).
func liveMethod(name string) string {
	parts := strings.Split(name, "/")
	mid := name
	if len(parts) == 3 {
		mid = parts[1]
	}
	best := ""
	for m := range MethodColors {
		if (mid == m || strings.HasPrefix(mid, m+"-")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return mid
	}
	return best
}

// liveLabels are the legend names: "method seed k" (the data set and a
// variant left out), or the full middle part where that would be ambiguous.
func liveLabels(runs []*liveRun) []string {
	labels := make([]string, len(runs))
	count := map[string]int{}
	for i, r := range runs {
		parts := strings.Split(r.name, "/")
		if len(parts) != 3 {
			labels[i] = r.name
			continue
		}
		seed := strings.Replace(parts[2], "seed", "seed ", 1)
		labels[i] = liveMethod(r.name) + " " + seed
		count[labels[i]]++
	}
	for i, r := range runs {
		if parts := strings.Split(r.name, "/"); len(parts) == 3 && count[labels[i]] > 1 {
			labels[i] = parts[1] + " " + strings.Replace(parts[2], "seed", "seed ", 1)
		}
	}
	return labels
}

// epochAccuracy is the accuracy Metric names (dev when it says so, else test), else the other one.
func (l *Live) epochAccuracy(e Epoch) *float64 {
	first, second := e.TestAccuracy, e.DevAccuracy
	if strings.Contains(l.Metric, "dev") {
		first, second = second, first
	}
	if first != nil {
		return first
	}
	return second
}

// sortXY sorts paired slices by x (stable: few points, mostly in order).
func sortXY(x, y []float64) {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && x[j] < x[j-1]; j-- {
			x[j], x[j-1] = x[j-1], x[j]
			y[j], y[j-1] = y[j-1], y[j]
		}
	}
}
