package survey

import "math"

// Tally counts responses by score. Index i holds the number of responses
// with score i, so an NPS tally uses indexes 0-10 and CSAT 1-5.
type Tally [11]int

// Add counts one response with the given score; scores outside 0-10 are
// ignored because the store never holds them.
func (t *Tally) Add(score int) {
	if score >= 0 && score < len(t) {
		t[score]++
	}
}

// Summary is what results show for a set of responses of one kind.
type Summary struct {
	Kind       Kind
	Responses  int
	Promoters  int
	Passives   int
	Detractors int
	// Score is NPS (-100..100) for nps, the share of satisfied answers in
	// percent (0..100) for csat, and the mean score for ces. It is rounded
	// to one decimal and is zero when there are no responses (see Empty).
	Score float64
	// MarginOfError is the half-width of the 95% confidence interval of
	// Score, in the same unit, rounded to one decimal.
	MarginOfError float64
}

// Empty reports whether there is nothing to compute from; Score and
// MarginOfError are then meaningless and should be shown as absent.
func (s Summary) Empty() bool { return s.Responses == 0 }

// Pct returns n as a percentage of all responses, with one decimal.
func (s Summary) Pct(n int) float64 {
	if s.Responses == 0 {
		return 0
	}
	return round1(100 * float64(n) / float64(s.Responses))
}

// z95 is the two-sided 95% quantile of the normal distribution.
const z95 = 1.959963984540054

// Summarize computes the summary of a tally for the kind.
func Summarize(k Kind, t Tally) Summary {
	s := Summary{Kind: k}
	lo, hi := k.Range()
	var sum, sumSq float64
	for score := lo; score <= hi; score++ {
		n := t[score]
		if n == 0 {
			continue
		}
		s.Responses += n
		sum += float64(n * score)
		sumSq += float64(n * score * score)
		switch k.CategoryOf(score) {
		case Promoter:
			s.Promoters += n
		case Passive:
			s.Passives += n
		default:
			s.Detractors += n
		}
	}
	if s.Responses == 0 {
		return s
	}
	n := float64(s.Responses)
	switch k {
	case CES:
		mean := sum / n
		s.Score = round1(mean)
		if s.Responses > 1 {
			variance := (sumSq - n*mean*mean) / (n - 1)
			s.MarginOfError = round1(z95 * math.Sqrt(math.Max(variance, 0)/n))
		}
	case CSAT:
		p := float64(s.Promoters) / n
		s.Score = round1(100 * p)
		s.MarginOfError = round1(100 * z95 * math.Sqrt(p*(1-p)/n))
	default:
		// NPS is the mean of a variable that is +1 for a promoter, 0 for a
		// passive and -1 for a detractor; its variance is p + d - (p-d)².
		p := float64(s.Promoters) / n
		d := float64(s.Detractors) / n
		// Computed from the integer counts so that rounding sees the exact
		// ratio (e.g. 1/8 = 12.5 rounds to 12.5, not 12.499999).
		s.Score = round1(float64(1000*(s.Promoters-s.Detractors)) / n / 10)
		variance := p + d - (p-d)*(p-d)
		s.MarginOfError = round1(100 * z95 * math.Sqrt(math.Max(variance, 0)/n))
	}
	return s
}

// round1 rounds half away from zero to one decimal.
func round1(x float64) float64 {
	return math.Round(x*10) / 10
}
