// Command go-oracle renders every case of ../cases.txt with Go's text/template and
// Sprig's HermeticTxtFuncMap, and writes ../golden.json: the expected output or error of
// each case, as real Go produces it.
//
// Case file format: a case starts with a line `=== NAME [missingkey=MODE] [JSON-DATA]`; the
// template is every following line up to the next `===` line, without the final newline.
// Lines starting with `#` before the first case are comments.
//
//	cd crates/gotemplate/testdata/go-oracle && go run .
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type testCase struct {
	Name       string          `json:"name"`
	MissingKey string          `json:"missingkey,omitempty"`
	Data       json.RawMessage `json:"data"`
	Template   string          `json:"template"`
	Output     *string         `json:"output,omitempty"`
	Error      *string         `json:"error,omitempty"`
}

func main() {
	f, err := os.Open("../cases.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var cases []*testCase
	var cur *testCase
	var lines []string
	flush := func() {
		if cur != nil {
			cur.Template = strings.Join(lines, "\n")
			cases = append(cases, cur)
		}
		lines = nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "=== ") {
			flush()
			rest := strings.TrimPrefix(line, "=== ")
			name, rest, _ := strings.Cut(rest, " ")
			cur = &testCase{Name: name, Data: json.RawMessage("{}")}
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "missingkey=") {
				var mode string
				mode, rest, _ = strings.Cut(rest, " ")
				cur.MissingKey = strings.TrimPrefix(mode, "missingkey=")
				rest = strings.TrimSpace(rest)
			}
			if rest != "" {
				cur.Data = json.RawMessage(rest)
			}
			continue
		}
		if cur == nil {
			continue
		}
		lines = append(lines, line)
	}
	flush()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			panic("duplicate case " + c.Name)
		}
		seen[c.Name] = true
		out, err := render(c)
		if err != nil {
			msg := err.Error()
			c.Error = &msg
		} else {
			c.Output = &out
		}
	}
	data, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile("../golden.json", append(data, '\n'), 0o644); err != nil {
		panic(err)
	}
	fmt.Printf("%d cases\n", len(cases))
	renderFlux()
}

func render(c *testCase) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	var data any
	if err := json.Unmarshal(c.Data, &data); err != nil {
		return "", fmt.Errorf("bad case data: %w", err)
	}
	t := template.New("t").Funcs(sprig.HermeticTxtFuncMap())
	if c.MissingKey != "" {
		t = t.Option("missingkey=" + c.MissingKey)
	}
	t, err = t.Parse(c.Template)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
