//go:build race

package contactimport_test

// The race detector makes an import some 20 times slower, so the memory
// test reads fewer rows. It also makes the import allocate some 20 times
// more per row (275 KB against 14 KB, measured; sync.Pool drops a quarter
// of what it is given under -race, and the phone number parser's regexps
// live in pools), and on busy cores the collector lags behind that churn,
// so HeapInuse then measures garbage, not what the import holds. With
// -race the test therefore measures the heap after a collection at the end
// of each batch, which is what it is about.
func init() {
	memoryTestRows = 20_000
	memoryTestLiveOnly = true
}
