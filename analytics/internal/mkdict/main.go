// Command mkdict writes analytics/zhdict.txt.gz, the Chinese dictionary the
// comment word counts segment with: the words of gse's simplified and
// traditional Chinese dictionaries (from jieba, MIT licensed) seen at least
// -min times in their corpus. The full dictionaries are 350,000 words and
// cost 130 MB of heap and two seconds to load; the common words segment
// survey comments the same way for a fifth of that, and unknown words still
// come out through gse's HMM.
//
// Run from the analytics directory: go generate (see words.go).
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	minFreq := flag.Int("min", 20, "keep words seen at least this often")
	out := flag.String("o", "zhdict.txt.gz", "output file")
	flag.Parse()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/go-ego/gse").Output()
	if err != nil {
		fail(fmt.Errorf("locate gse (go mod download github.com/go-ego/gse): %w", err))
	}
	root := strings.TrimSpace(string(dir))
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriter(zw)
	seen := map[string]bool{}
	n := 0
	for _, name := range []string{"s_1.txt", "t_1.txt"} {
		in, err := os.Open(filepath.Join(root, "data", "dict", "zh", name))
		if err != nil {
			fail(err)
		}
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || seen[fields[0]] {
				continue
			}
			freq, err := strconv.Atoi(fields[1])
			if err != nil || freq < *minFreq {
				continue
			}
			seen[fields[0]] = true
			fmt.Fprintf(w, "%s %d\n", fields[0], freq)
			n++
		}
		if err := sc.Err(); err != nil {
			fail(err)
		}
		in.Close()
	}
	if err := w.Flush(); err != nil {
		fail(err)
	}
	if err := zw.Close(); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "mkdict: %d words in %s\n", n, *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkdict:", err)
	os.Exit(1)
}
