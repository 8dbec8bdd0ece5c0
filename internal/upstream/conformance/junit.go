package conformance

import (
	"encoding/xml"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Result is one spec of a junit report.
type Result struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"` // ginkgo's: passed, failed, skipped, panicked, timedout, ...
	Seconds float64 `json:"seconds"`
	Message string  `json:"message,omitempty"` // the failure's or the skip's first line
}

type junitReport struct {
	Suites []struct {
		Cases []struct {
			Name    string  `xml:"name,attr"`
			Status  string  `xml:"status,attr"`
			Time    float64 `xml:"time,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Type string `xml:"type,attr"`
				Text string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Type string `xml:"type,attr"`
				Text string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ReadJUnit reads the specs of a junit report as ginkgo writes it for the e2e framework
// (junit_01.xml): every spec of the binary, those the focus left out as skipped.
func ReadJUnit(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r junitReport
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Result
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			res := Result{Name: strings.TrimPrefix(c.Name, "[It] "), Status: c.Status, Seconds: c.Time}
			switch {
			case c.Failure != nil:
				res.Message = firstLine(c.Failure.Text)
			case c.Error != nil:
				res.Message = firstLine(c.Error.Text)
			case c.Skipped != nil:
				res.Message = firstLine(c.Skipped.Message)
			}
			if res.Status == "" { // older reporters: no status attribute
				res.Status = "passed"
				if c.Failure != nil || c.Error != nil {
					res.Status = "failed"
				} else if c.Skipped != nil {
					res.Status = "skipped"
				}
			}
			out = append(out, res)
		}
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// Outcome is what became of one conformance test.
type Outcome struct {
	Test
	Status  string  `json:"status"` // passed, failed, skipped, ..., or "not run" (in no report)
	Seconds float64 `json:"seconds"`
	Message string  `json:"message,omitempty"`
}

// Summary is a run's results against the tests it was meant to run.
type Summary struct {
	Wanted  int       `json:"wanted"`
	Passed  int       `json:"passed"`
	Failed  int       `json:"failed"`
	Skipped int       `json:"skipped"`
	NotRun  int       `json:"notRun"`
	NonPass []Outcome `json:"nonPass"`
}

// Summarize matches the reports' specs to the wanted tests: each wanted test passed, failed (any
// ginkgo failure state), was skipped at run time, or appears in no report.
func Summarize(wanted []Test, reports ...[]Result) Summary {
	byKey := map[string]Result{}
	for _, rep := range reports {
		for _, r := range rep {
			k := Key(r.Name)
			// A spec focused out of one part is "skipped" there and ran in the other.
			if prev, ok := byKey[k]; ok && prev.Status != "skipped" {
				continue
			}
			byKey[k] = r
		}
	}
	s := Summary{Wanted: len(wanted)}
	for _, t := range wanted {
		r, ok := byKey[t.Key()]
		o := Outcome{Test: t, Status: "not run"}
		if ok {
			o.Status, o.Seconds, o.Message = r.Status, r.Seconds, r.Message
		}
		switch o.Status {
		case "passed":
			s.Passed++
			continue
		case "skipped":
			s.Skipped++
		case "not run":
			s.NotRun++
		default:
			s.Failed++
		}
		s.NonPass = append(s.NonPass, o)
	}
	sort.Slice(s.NonPass, func(i, j int) bool { return s.NonPass[i].Codename < s.NonPass[j].Codename })
	return s
}

// NonPassKeys is the set of tests that did not pass, for comparing two runs.
func (s Summary) NonPassKeys() []string {
	var keys []string
	for _, o := range s.NonPass {
		keys = append(keys, o.Key())
	}
	return keys
}
