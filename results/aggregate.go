package results

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Stat is a mean and sample standard deviation (n−1) over N values; N 0 means
// no value, N 1 has Std 0.
type Stat struct {
	N         int
	Mean, Std float64
}

func statOf(xs []float64) Stat {
	n := len(xs)
	if n == 0 {
		return Stat{}
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(n)
	if n == 1 {
		return Stat{N: 1, Mean: mean}
	}
	var ss float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
	}
	return Stat{N: n, Mean: mean, Std: math.Sqrt(ss / float64(n-1))}
}

// Percent formats a fraction statistic as percentages with 2 decimals:
// "97.77 ± 0.24", "72.58" for one value, "—" for none.
func (s Stat) Percent() string {
	switch s.N {
	case 0:
		return "—"
	case 1:
		return fmt.Sprintf("%.2f", 100*s.Mean)
	}
	return fmt.Sprintf("%.2f ± %.2f", 100*s.Mean, 100*s.Std)
}

// CurvePoint is the mean accuracy after one epoch over the complete runs of a group.
type CurvePoint struct {
	Epoch     int
	Test, Dev Stat
}

// Failure is one failed run of a group.
type Failure struct {
	Seed   int
	Epochs int // epochs finished before the failure
	Error  string
}

// NamedStat is a statistic of a named quantity (a learned scale).
type NamedStat struct {
	Name string
	Stat
}

// LearnedSummary is what the morph runs of a group learned, over seeds.
type LearnedSummary struct {
	Alpha  Stat
	Scales []NamedStat // by name
}

// Summary is one row of a results table: the runs of one data set, method,
// variant and backbone (and caveats: quick or limited runs are never mixed
// with full ones) over seeds. Statistics are over complete runs only.
type Summary struct {
	Dataset, Method, Variant, Backbone string
	Caveats                            []string // shared by every run of the group; see Record.Caveats

	Seeds     []int // seeds of the complete runs, ascending
	Test, Dev Stat  // final test and dev accuracy (fractions)

	TrainableParams, TotalParams int64
	SecondsPerEpoch              float64 // mean over complete runs of their mean epoch time
	WallSeconds                  float64 // mean over complete runs
	PeakRSSBytes                 int64   // largest over all runs

	Curve    []CurvePoint // per epoch, mean over the complete runs that reached it
	Backends []string     // distinct Backend.String() of all runs, sorted
	Commits  []string     // distinct commits of all runs, sorted
	Failures []Failure    // by seed
	Learned  *LearnedSummary
	Warnings []string // inconsistencies inside the group (parameter counts, configs)
}

// N is the number of complete runs.
func (s Summary) N() int { return len(s.Seeds) }

// TrainablePercent is trainable / total parameters in percent (0 when unknown).
func (s Summary) TrainablePercent() float64 {
	if s.TotalParams <= 0 {
		return 0
	}
	return 100 * float64(s.TrainableParams) / float64(s.TotalParams)
}

// Label names the row: the method, with its variant and caveats in parentheses.
func (s Summary) Label() string {
	var extra []string
	if s.Variant != "" {
		extra = append(extra, s.Variant)
	}
	extra = append(extra, s.Caveats...)
	if len(extra) == 0 {
		return s.Method
	}
	return s.Method + " (" + strings.Join(extra, ", ") + ")"
}

// protocolCaveats are the caveats other than the fixture backbone (which the
// reports flag on their own, next to the backbone).
func (s Summary) protocolCaveats() []string {
	var out []string
	for _, c := range s.Caveats {
		if c != fixtureCaveat {
			out = append(out, c)
		}
	}
	return out
}

type groupKey struct {
	dataset, method, variant, backbone, caveats string
}

func groupKeyOf(r *Record) groupKey {
	return groupKey{r.Dataset, r.Method, r.Variant, r.Backbone, strings.Join(r.Caveats(), "; ")}
}

func (s Summary) key() groupKey {
	return groupKey{s.Dataset, s.Method, s.Variant, s.Backbone, strings.Join(s.Caveats, "; ")}
}

// Report order of data sets and methods; others follow, alphabetically.
var (
	datasetOrder = []string{"mnist", "fashion-mnist", "cifar10", "sst2"}
	methodOrder  = []string{"baseline", "morph-frozen", "morph-trained", "morph", "lora"}
)

func rank(order []string, s string) int {
	for i, o := range order {
		if o == s {
			return i
		}
	}
	return len(order)
}

func compareNames(order []string, a, b string) int {
	if ra, rb := rank(order, a), rank(order, b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}

// compareGroups orders groups: data set, backbone (TinyBERT before fixtures),
// caveats (full runs first), method, variant.
func compareGroups(a, b groupKey) int {
	if c := compareNames(datasetOrder, a.dataset, b.dataset); c != 0 {
		return c
	}
	if fa, fb := IsFixtureBackbone(a.backbone), IsFixtureBackbone(b.backbone); fa != fb {
		if fa {
			return 1
		}
		return -1
	}
	if c := strings.Compare(a.backbone, b.backbone); c != 0 {
		return c
	}
	if c := strings.Compare(a.caveats, b.caveats); c != 0 {
		return c
	}
	if c := compareNames(methodOrder, a.method, b.method); c != 0 {
		return c
	}
	return strings.Compare(a.variant, b.variant)
}

// Aggregate reduces records to one Summary per data set × method × variant ×
// backbone (× caveats), in report order: data sets mnist, fashion-mnist,
// cifar10, sst2; methods baseline, morph-frozen, morph-trained, morph, lora.
// Failed runs count in Failures and never in the statistics.
func Aggregate(records []*Record) []Summary {
	groups := map[groupKey][]*Record{}
	for _, r := range records {
		if r == nil {
			continue
		}
		k := groupKeyOf(r)
		groups[k] = append(groups[k], r)
	}
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return compareGroups(keys[i], keys[j]) < 0 })
	out := make([]Summary, 0, len(keys))
	for _, k := range keys {
		out = append(out, summarize(groups[k]))
	}
	return out
}

func summarize(recs []*Record) Summary {
	recs = append([]*Record(nil), recs...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seed < recs[j].Seed })
	first := recs[0]
	s := Summary{
		Dataset: first.Dataset, Method: first.Method, Variant: first.Variant,
		Backbone: first.Backbone, Caveats: first.Caveats(),
	}
	var test, dev, secs, wall, alpha []float64
	scales := map[string][]float64{}
	var curveTest, curveDev [][]float64
	backends, commits := map[string]bool{}, map[string]bool{}
	params := map[[2]int64][]int{}
	configs := map[string]map[string][]int{} // key -> value -> seeds
	for _, r := range recs {
		backends[r.Backend.String()] = true
		commits[r.Commit] = true
		s.PeakRSSBytes = max(s.PeakRSSBytes, r.PeakRSSBytes)
		if !r.Complete() {
			s.Failures = append(s.Failures, Failure{Seed: r.Seed, Epochs: len(r.Epochs), Error: r.Error})
			continue
		}
		s.Seeds = append(s.Seeds, r.Seed)
		if r.FinalTestAccuracy != nil {
			test = append(test, *r.FinalTestAccuracy)
		}
		if r.FinalDevAccuracy != nil {
			dev = append(dev, *r.FinalDevAccuracy)
		}
		wall = append(wall, r.WallSeconds)
		if len(r.Epochs) > 0 {
			var t float64
			for _, e := range r.Epochs {
				t += e.Seconds
			}
			secs = append(secs, t/float64(len(r.Epochs)))
		}
		for i, e := range r.Epochs {
			for len(curveTest) <= i {
				curveTest, curveDev = append(curveTest, nil), append(curveDev, nil)
			}
			if e.TestAccuracy != nil {
				curveTest[i] = append(curveTest[i], *e.TestAccuracy)
			}
			if e.DevAccuracy != nil {
				curveDev[i] = append(curveDev[i], *e.DevAccuracy)
			}
		}
		if r.Learned != nil {
			if r.Learned.Alpha != nil {
				alpha = append(alpha, *r.Learned.Alpha)
			}
			for k, v := range r.Learned.Scales {
				scales[k] = append(scales[k], v)
			}
		}
		p := [2]int64{r.TrainableParams, r.TotalParams}
		params[p] = append(params[p], r.Seed)
		for _, k := range []string{"epochs", "batch_size", "learning_rate", "optimizer", "weight_decay"} {
			if v, ok := r.Config[k]; ok {
				if configs[k] == nil {
					configs[k] = map[string][]int{}
				}
				vs := fmt.Sprint(v)
				configs[k][vs] = append(configs[k][vs], r.Seed)
			}
		}
	}
	s.Test, s.Dev = statOf(test), statOf(dev)
	s.SecondsPerEpoch, s.WallSeconds = statOf(secs).Mean, statOf(wall).Mean
	for i := range curveTest {
		s.Curve = append(s.Curve, CurvePoint{Epoch: i + 1, Test: statOf(curveTest[i]), Dev: statOf(curveDev[i])})
	}
	if len(alpha) > 0 || len(scales) > 0 {
		ls := &LearnedSummary{Alpha: statOf(alpha)}
		for _, k := range sortedKeys(scales) {
			ls.Scales = append(ls.Scales, NamedStat{Name: k, Stat: statOf(scales[k])})
		}
		s.Learned = ls
	}
	s.Backends, s.Commits = sortedKeys(backends), sortedKeys(commits)

	// Parameter counts: the complete runs' (the most common one if they
	// disagree, with a warning); a group of failed runs only shows what they recorded.
	if len(params) == 0 {
		for _, r := range recs {
			if r.TotalParams > 0 {
				s.TrainableParams, s.TotalParams = r.TrainableParams, r.TotalParams
				break
			}
		}
	} else {
		best, bestP := -1, [2]int64{}
		for p, seeds := range params {
			if n := len(seeds); n > best || n == best && (p[0] < bestP[0] || p[0] == bestP[0] && p[1] < bestP[1]) {
				best, bestP = n, p
			}
		}
		s.TrainableParams, s.TotalParams = bestP[0], bestP[1]
		if len(params) > 1 {
			s.Warnings = append(s.Warnings, "runs disagree on parameter counts: "+describeSplit(params, func(p [2]int64) string {
				return formatInt(p[0]) + "/" + formatInt(p[1])
			}))
		}
	}
	for _, k := range sortedKeys(configs) {
		if len(configs[k]) > 1 {
			s.Warnings = append(s.Warnings, "runs disagree on "+k+": "+describeSplit(configs[k], func(v string) string { return v }))
		}
	}
	return s
}

// describeSplit lists values and the seeds that have them: "5 (seeds 0, 1), 3 (seed 2)".
func describeSplit[K comparable](m map[K][]int, name func(K) string) string {
	type item struct {
		name  string
		seeds []int
	}
	var items []item
	for k, seeds := range m {
		items = append(items, item{name(k), seeds})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	parts := make([]string, len(items))
	for i, it := range items {
		word := "seeds"
		if len(it.seeds) == 1 {
			word = "seed"
		}
		parts[i] = fmt.Sprintf("%s (%s %s)", it.name, word, joinInts(it.seeds))
	}
	return strings.Join(parts, ", ")
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// Datasets lists the distinct data sets of summaries, in report order.
func Datasets(sums []Summary) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range sums {
		if !seen[s.Dataset] {
			seen[s.Dataset] = true
			out = append(out, s.Dataset)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return compareNames(datasetOrder, out[i], out[j]) < 0 })
	return out
}

// DatasetTitle is a data set's display name: "MNIST", "FashionMNIST", "CIFAR-10", "SST-2".
func DatasetTitle(dataset string) string {
	switch dataset {
	case "mnist":
		return "MNIST"
	case "fashion-mnist":
		return "FashionMNIST"
	case "cifar10":
		return "CIFAR-10"
	case "sst2":
		return "SST-2"
	}
	return dataset
}

func ofDataset(sums []Summary, dataset string) []Summary {
	var out []Summary
	for _, s := range sums {
		if s.Dataset == dataset {
			out = append(out, s)
		}
	}
	return out
}
