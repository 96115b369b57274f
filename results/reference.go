package results

// ReferenceEntry is one published result, in percent as published.
type ReferenceEntry struct {
	Dataset, Method string
	MeanPct, StdPct float64 // StdPct is 0 for a single seed
	Seeds           int
}

// Percent formats the entry like Stat.Percent: "97.77 ± 0.24", or "72.58" for one seed.
func (e ReferenceEntry) Percent() string {
	return Stat{N: max(e.Seeds, 1), Mean: e.MeanPct / 100, Std: e.StdPct / 100}.Percent()
}

// Reference is a table of results to compare with, e.g. the original PyTorch study's.
type Reference struct {
	Name    string // column header, e.g. "PyTorch reference"
	Source  string // where the numbers come from, shown under the tables
	Entries []ReferenceEntry
}

// Lookup returns the entry for a data set and method.
func (r *Reference) Lookup(dataset, method string) (ReferenceEntry, bool) {
	if r == nil {
		return ReferenceEntry{}, false
	}
	for _, e := range r.Entries {
		if e.Dataset == dataset && e.Method == method {
			return e, true
		}
	}
	return ReferenceEntry{}, false
}

func (r *Reference) has(dataset string) bool {
	if r == nil {
		return false
	}
	for _, e := range r.Entries {
		if e.Dataset == dataset {
			return true
		}
	}
	return false
}

// PyTorchReference holds the PyTorch reference numbers quoted in the
// MorphReuse-Go project issue (the task that defines this project): test
// accuracy in percent, mean ± std over seeds 0, 1, 2 for MNIST and
// FashionMNIST, seed 0 alone for CIFAR-10. There is no SST-2 reference.
// Pass &PyTorchReference to the tables and reports.
var PyTorchReference = Reference{
	Name:   "PyTorch ref.",
	Source: "PyTorch reference numbers quoted in the MorphReuse-Go project issue (MNIST and FashionMNIST: mean ± std over 3 seeds; CIFAR-10: seed 0 only)",
	Entries: []ReferenceEntry{
		{"mnist", "baseline", 97.77, 0.24, 3},
		{"mnist", "morph-frozen", 96.65, 0.17, 3},
		{"mnist", "morph-trained", 97.35, 0.16, 3},
		{"mnist", "lora", 92.86, 0.38, 3},
		{"fashion-mnist", "baseline", 87.86, 0.28, 3},
		{"fashion-mnist", "morph-frozen", 86.01, 0.37, 3},
		{"fashion-mnist", "morph-trained", 87.49, 0.25, 3},
		{"fashion-mnist", "lora", 83.36, 0.29, 3},
		{"cifar10", "baseline", 72.58, 0, 1},
		{"cifar10", "morph-frozen", 71.05, 0, 1},
		{"cifar10", "morph-trained", 72.81, 0, 1},
		{"cifar10", "lora", 70.06, 0, 1},
	},
}
