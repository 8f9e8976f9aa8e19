package fhir

import (
	"encoding/json"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// v1 are encoding/json's semantics (duplicate names, case-insensitive
// names, invalid UTF-8 replaced, the models' UnmarshalJSON methods) on the
// v2 decoder, which decodes the samply models in about half the time and
// two thirds of the allocations: decoding is most of the CPU a refresh
// costs. The models keep decimals as encoding/json's Number, which v2 does
// not know, so it is taught.
var v1 = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.WithUnmarshalers(
	jsonv2.UnmarshalFunc(func(b []byte, n *json.Number) error {
		switch jsontext.Value(b).Kind() {
		case '0':
			*n = json.Number(b)
			return nil
		case 'n':
			return nil // null leaves it as it is, as encoding/json does
		case '"': // encoding/json takes a number written as a string too
			var s string
			if err := jsonv2.Unmarshal(b, &s); err == nil && jsontext.Value(s).Kind() == '0' && jsontext.Value(s).IsValid() {
				*n = json.Number(s)
				return nil
			}
		}
		return fmt.Errorf("%s is not a number", jsontext.Value(b).Kind())
	})))

// Unmarshal decodes FHIR JSON as encoding/json.Unmarshal does, faster. The
// connectors use it for every resource they read.
func Unmarshal(data []byte, v any) error {
	return jsonv2.Unmarshal(data, v, v1)
}
