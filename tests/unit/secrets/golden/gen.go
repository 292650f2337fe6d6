//go:build ignore

// Reference renderer for tests/unit/secrets/test_template_golden.py.
//
// It renders every case of cases.json with Go's own text/template and the secret-template functions as api.md 5.10
// defines them, and writes golden.json. The Python engine must produce byte-identical output for every case Go
// renders, and must fail where Go fails. Regenerate after editing cases.json:
//
//	cd tests/unit/secrets/golden && go run gen.go
//
// Only the standard library is used, so no module download is needed.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// SecretTemplateData has the variables of api.md 5.10 in the documented order and no methods.
type SecretTemplateData struct {
	Username  string
	Password  string
	Host      string
	Port      int
	Database  string
	SSLMode   string
	Namespace string
	Name      string
	CA        string
	TLSCert   string
	TLSKey    string
}

type testCase struct {
	Name        string             `json:"name"`
	Template    string             `json:"template"`
	Data        string             `json:"data"`
	Unsupported bool               `json:"unsupported,omitempty"`
	Note        string             `json:"note,omitempty"`
}

type casesFile struct {
	Data  map[string]SecretTemplateData `json:"data"`
	Cases []testCase                    `json:"cases"`
}

type result struct {
	Name        string `json:"name"`
	Template    string `json:"template"`
	Data        string `json:"data"`
	Unsupported bool   `json:"unsupported,omitempty"`
	OutputB64   string `json:"output_b64,omitempty"`
	Error       bool   `json:"error,omitempty"`
}

type golden struct {
	GoVersion string                        `json:"go_version"`
	Data      map[string]SecretTemplateData `json:"data"`
	Results   []result                      `json:"results"`
}

func empty(given any) bool {
	g := reflect.ValueOf(given)
	if !g.IsValid() {
		return true
	}
	switch g.Kind() {
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		return g.Len() == 0
	case reflect.Bool:
		return !g.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return g.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return g.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return g.Float() == 0
	case reflect.Struct:
		return false
	default:
		return g.IsNil()
	}
}

var funcs = template.FuncMap{
	"urlEncode":     url.QueryEscape,
	"urlPathEncode": url.PathEscape,
	"base64Encode":  func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"base64Decode": func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
	"trim":       strings.TrimSpace,
	"trimPrefix": strings.TrimPrefix,
	"trimSuffix": strings.TrimSuffix,
	"replace":    strings.ReplaceAll,
	"quote": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
	"squote": func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
	"default": func(d any, given ...any) any {
		if len(given) == 0 || empty(given[0]) {
			return d
		}
		return given[0]
	},
	"toJson": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join": func(list any, sep string) string {
		v := reflect.ValueOf(list)
		if !v.IsValid() {
			return ""
		}
		var items []string
		if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
			for i := 0; i < v.Len(); i++ {
				e := v.Index(i).Interface()
				if e == nil {
					continue
				}
				if s, ok := e.(string); ok {
					items = append(items, s)
				} else {
					items = append(items, fmt.Sprint(e))
				}
			}
		} else if s, ok := list.(string); ok {
			items = []string{s}
		} else {
			items = []string{fmt.Sprint(list)}
		}
		return strings.Join(items, sep)
	},
}

func main() {
	raw, err := os.ReadFile("cases.json")
	if err != nil {
		panic(err)
	}
	var cf casesFile
	if err := json.Unmarshal(raw, &cf); err != nil {
		panic(err)
	}
	out := golden{GoVersion: runtime.Version(), Data: cf.Data}
	for _, c := range cf.Cases {
		data, ok := cf.Data[c.Data]
		if !ok {
			panic("unknown data set " + c.Data + " in case " + c.Name)
		}
		r := result{Name: c.Name, Template: c.Template, Data: c.Data, Unsupported: c.Unsupported}
		t, err := template.New(c.Name).Funcs(funcs).Parse(c.Template)
		if err == nil {
			var buf bytes.Buffer
			err = t.Execute(&buf, data)
			if err == nil {
				r.OutputB64 = base64.StdEncoding.EncodeToString(buf.Bytes())
			}
		}
		if err != nil {
			r.Error = true
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		}
		out.Results = append(out.Results, r)
	}
	enc, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile("golden.json", append(enc, '\n'), 0o644); err != nil {
		panic(err)
	}
}
