package results

// LossChart is EpochChart's companion for the training loss: one line per
// Aggregate row of the records (same labels, colours and dashes), the mean
// over its complete runs of each epoch's mean training loss. Non-finite
// losses (a diverged run) are left out of the mean. Pass the records of one
// data set and backbone, as for EpochChart.
func LossChart(records []*Record) LineChart {
	sums := Aggregate(records)
	byGroup := map[groupKey][]*Record{}
	for _, r := range records {
		if r != nil && r.Complete() {
			k := groupKeyOf(r)
			byGroup[k] = append(byGroup[k], r)
		}
	}
	c := LineChart{
		Title:  "Training loss per epoch (mean over seeds)",
		XLabel: "epoch", YLabel: "training loss (mean over the epoch)",
		IntegerX: true,
	}
	for _, s := range sums {
		recs := byGroup[s.key()]
		if len(recs) == 0 {
			continue
		}
		var perEpoch [][]float64
		for _, r := range recs {
			for i, e := range r.Epochs {
				for len(perEpoch) <= i {
					perEpoch = append(perEpoch, nil)
				}
				if finite(e.TrainLoss) {
					perEpoch[i] = append(perEpoch[i], e.TrainLoss)
				}
			}
		}
		se := Series{Name: s.Label(), Color: SeriesColor(s.Method), Dashed: dashed(sums, s)}
		for i, losses := range perEpoch {
			if len(losses) > 0 {
				se.X = append(se.X, float64(i+1))
				se.Y = append(se.Y, statOf(losses).Mean)
			}
		}
		c.Series = append(c.Series, se)
	}
	return c
}
