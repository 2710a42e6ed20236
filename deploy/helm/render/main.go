// Command render executes a Helm chart's templates the way `helm template` does, for checks
// on machines without helm: Go's own text/template, the chart's _helpers.tpl defines, and the
// few Sprig/Helm functions this chart uses (include, nindent, indent, toYaml, quote, default,
// trimSuffix, dict). Missing values are errors (like `helm lint --strict`).
//
// Usage: render CHART_DIR < context.json, where context.json is
// {"Values": ..., "Release": {...}, "Chart": {...}} (values already merged by the caller).
// Output: one "# Source: <file>" header per template file, then its rendered text.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"text/template"
)

func empty(v interface{}) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return r.Len() == 0
	case reflect.Bool:
		return !r.Bool()
	case reflect.Float64, reflect.Float32:
		return r.Float() == 0
	case reflect.Int, reflect.Int64, reflect.Int32:
		return r.Int() == 0
	}
	return false
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR < context.json")
		os.Exit(2)
	}
	var ctx map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&ctx); err != nil {
		fmt.Fprintln(os.Stderr, "context:", err)
		os.Exit(2)
	}
	root := template.New("chart").Option("missingkey=error")
	funcs := template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"indent":  indent,
		"toYaml": func(v interface{}) (string, error) {
			// JSON is YAML; Helm's toYaml output differs in style, not in meaning.
			out, err := json.MarshalIndent(v, "", "  ")
			return string(out), err
		},
		"quote": func(v interface{}) string {
			if v == nil {
				return `""`
			}
			return fmt.Sprintf("%q", fmt.Sprint(v))
		},
		"default": func(d interface{}, given ...interface{}) interface{} {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"dict": func(kv ...interface{}) (map[string]interface{}, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			out := map[string]interface{}{}
			for i := 0; i < len(kv); i += 2 {
				out[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return out, nil
		},
	}
	root.Funcs(funcs)
	dir := filepath.Join(os.Args[1], "templates")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	sort.Strings(files)
	var names []string
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		name := filepath.Base(file)
		if _, err := root.New(name).Parse(string(text)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	for _, name := range names {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("---\n# Source: %s\n%s\n", name, buf.String())
	}
}
