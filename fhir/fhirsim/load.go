package fhirsim

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadDir reads every *.json file under dir, recursively and in lexical
// order. A file holds one resource or a Bundle, whose entry[].resource are
// taken instead of the Bundle itself.
func LoadDir(dir string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch doc.ResourceType {
		case "":
			return fmt.Errorf("%s: no resourceType", path)
		case "Bundle":
			for _, e := range doc.Entry {
				if len(e.Resource) > 0 {
					out = append(out, e.Resource)
				}
			}
		default:
			out = append(out, json.RawMessage(data))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fhirsim: load %s: %w", dir, err)
	}
	return out, nil
}
