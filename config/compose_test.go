package config

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeUsesKnownKeys keeps docker-compose.yml honest: every NPSGATE_*
// variable it sets must be one the config reads, and the values it sets
// must pass validation.
func TestComposeUsesKnownKeys(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	known := map[string]bool{}
	for _, k := range EnvKeys() {
		known[k] = true
	}
	set := map[string]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if strings.HasPrefix(k, "NPSGATE_") {
					s, _ := x.(string)
					set[k] = s
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok && strings.HasPrefix(s, "NPSGATE_") {
					k, val, _ := strings.Cut(s, "=")
					set[k] = val
				}
				walk(x)
			}
		}
	}
	walk(doc)
	if len(set) < 5 {
		t.Fatalf("found only %d NPSGATE_* variables in docker-compose.yml: %v", len(set), set)
	}
	for k := range set {
		if !known[k] {
			t.Errorf("docker-compose.yml sets %s, which the config does not know", k)
		}
	}
	if _, err := Load("", func(k string) (string, bool) { v, ok := set[k]; return v, ok }); err != nil {
		t.Errorf("docker-compose.yml's settings do not validate: %v", err)
	}
}

// TestReadmeDocumentsEveryKey keeps the configuration reference complete.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range EnvKeys() {
		if !strings.Contains(string(b), "`"+k+"`") {
			t.Errorf("README.md does not document %s", k)
		}
	}
}
