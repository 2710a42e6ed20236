// Oracle: renders templates with Go's own text/template exactly as Distr does
// (Option("missingkey=error"), data struct{ Secrets map[string]string }).
// Reads a JSON array of cases on stdin, writes a JSON array of results.
// With -time N it renders each case N times and reports nanoseconds per render.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/template"
	"time"
)

type testCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Secrets  map[string]string `json:"secrets"`
}

type result struct {
	Output  *string `json:"output"`
	Phase   string  `json:"phase,omitempty"`
	Error   string  `json:"error,omitempty"`
	NsPerOp int64   `json:"nsPerOp,omitempty"`
}

func render(c testCase) result {
	tmpl, err := template.New(c.Name).Option("missingkey=error").Parse(c.Template)
	if err != nil {
		return result{Phase: "parse", Error: err.Error()}
	}
	var buf bytes.Buffer
	data := struct{ Secrets map[string]string }{Secrets: c.Secrets}
	if err := tmpl.Execute(&buf, data); err != nil {
		return result{Phase: "exec", Error: err.Error()}
	}
	out := buf.String()
	return result{Output: &out}
}

func main() {
	times := flag.Int("time", 0, "render each case N times and report ns/op")
	flag.Parse()
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		results[i] = render(c)
		if *times > 0 {
			tmpl, err := template.New(c.Name).Option("missingkey=error").Parse(c.Template)
			if err == nil {
				data := struct{ Secrets map[string]string }{Secrets: c.Secrets}
				start := time.Now()
				for n := 0; n < *times; n++ {
					var buf bytes.Buffer
					_ = tmpl.Execute(&buf, data)
				}
				results[i].NsPerOp = time.Since(start).Nanoseconds() / int64(*times)
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
