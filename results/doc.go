// Package results holds what a run leaves behind and what is made from it.
//
// One training run (data set × method × seed) is one [Record]: a versioned
// JSON file written atomically by [Write] and read back strictly by [Load] and
// [LoadDir]. Everything else is made from records alone: [Aggregate] reduces
// them to mean ± std over seeds, [ResultsTable] renders a data set as Markdown
// or HTML, [README] writes the text of results/README.md and [Report] one
// self-contained HTML page (inline SVG charts, no scripts, no network).
//
// The chart types ([LineChart], [Scatter]) are independent of records so the
// notebooks can draw with them too.
package results
