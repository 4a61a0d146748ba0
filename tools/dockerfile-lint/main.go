// dockerfile-lint parses Dockerfiles with BuildKit's own Dockerfile frontend (the parser and the
// instruction checks `docker build` runs) and reports its syntax errors and lint warnings — the
// build checks of `docker build --check` that need no base image. Exit 1 on any finding.
//
//	go run . ../../Dockerfile
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func lint(path string) int {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 1
	}
	findings := 0
	report := func(rule, msg string, line int) {
		findings++
		fmt.Printf("%s:%d: %s: %s\n", path, line, rule, msg)
	}
	ast, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		report("syntax", err.Error(), 0)
		return findings
	}
	for _, w := range ast.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		report("parser", w.Short, line)
	}
	lnt := linter.New(&linter.Config{
		ExperimentalAll: true,
		Warn: func(rule, _, _, msg string, location []parser.Range) {
			line := 0
			if len(location) > 0 {
				line = location[0].Start.Line
			}
			report(rule, msg, line)
		},
	})
	stages, _, err := instructions.Parse(ast.AST, lnt)
	if err != nil {
		report("instructions", err.Error(), 0)
	} else if len(stages) == 0 {
		report("instructions", "no build stage (FROM)", 0)
	}
	return findings
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint <Dockerfile>...")
		os.Exit(2)
	}
	findings := 0
	for _, path := range os.Args[1:] {
		findings += lint(path)
	}
	if findings > 0 {
		os.Exit(1)
	}
	fmt.Printf("%d Dockerfile(s): no finding\n", len(os.Args)-1)
}
