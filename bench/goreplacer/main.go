// Baseline for the redactor benchmark: Go's strings.Replacer over the same corpus.
//
// Reads the secrets (one per line) from the file named by -secrets and the corpus (one log
// line per line) from stdin, builds strings.NewReplacer(secret, "********", ...) and
// replaces line by line until -seconds of CPU time have passed. Prints one JSON object:
// build seconds, MB/s of corpus per CPU second, and how many lines changed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	secretsPath := flag.String("secrets", "", "file with one secret per line")
	seconds := flag.Float64("seconds", 2, "CPU seconds to measure")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	raw, err := os.ReadFile(*secretsPath)
	if err != nil {
		panic(err)
	}
	var pairs []string
	for _, s := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		pairs = append(pairs, s, "********")
	}
	input, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		panic(err)
	}
	lines := strings.Split(strings.TrimRight(string(input), "\n"), "\n")
	start := cpu()
	replacer := strings.NewReplacer(pairs...)
	replacer.Replace("warm up the lazy build")
	build := cpu() - start
	var bytes, changed int
	start = cpu()
	for cpu()-start < time.Duration(*seconds*float64(time.Second)) {
		for _, line := range lines {
			if out := replacer.Replace(line); len(out) != len(line) || out != line {
				changed++
			}
			bytes += len(line) + 1
		}
	}
	elapsed := (cpu() - start).Seconds()
	out, _ := json.Marshal(map[string]float64{
		"buildSeconds": build.Seconds(),
		"mbPerSecond":  float64(bytes) / elapsed / 1e6,
		"changed":      float64(changed),
	})
	fmt.Println(string(out))
}
