// Package analytics is the arithmetic of results over time and text, with
// no I/O: the periods of a trend (ISO weeks, months, quarters in a time
// zone), the change from one period to the next and whether it is larger
// than the margin of error, and the most frequent words and phrases of
// comments, English and Chinese (segmented with gse).
//
// The store counts (GROUP BY in SQL); survey.Summarize turns counts into
// NPS, CSAT or CES; this package puts those summaries in order.
package analytics
