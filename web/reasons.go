package web

import (
	"slices"
	"strings"
)

// A clinician's reason is free text, shown to the patient as written, or
// one of a fixed list, stored as a code so that each reader reads it in
// their own language.

// reasonCodePrefix marks a stored reason that is a code of reasonCodes.
const reasonCodePrefix = "code:"

// reasonCodes are the reasons a clinician may pick, in the order offered;
// each has its text under "reasoncode.<code>" in every catalog.
var reasonCodes = []string{"treatment", "discharge", "coordination", "home-care", "urgent"}

// reasonText is a stored reason as the reader reads it: a code in their
// language, anything else as written.
func reasonText(tr *translator, reason string) string {
	code, ok := strings.CutPrefix(reason, reasonCodePrefix)
	if !ok || !slices.Contains(reasonCodes, code) {
		return reason
	}
	return tr.T("reasoncode." + code)
}
