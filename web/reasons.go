package web

import (
	"net/url"
	"slices"
	"strings"
)

// A clinician's reason is one of a fixed list, stored as a code so that
// each patient reads it in their own language, free text, shown as
// written, or a code with free text after it. API clients send the same
// codes ("code:discharge") in the Overblik-Reason header.

// reasonCodePrefix marks a stored reason that begins with a code of
// reasonCodes; ": " then separates any free text.
const reasonCodePrefix = "code:"

// reasonCodes are the reasons a clinician may pick, in the order offered;
// each has its text under "reasoncode.<code>" in every catalog.
var reasonCodes = []string{"treatment", "discharge", "coordination", "home-care", "urgent"}

// reasonText is a stored reason as the reader reads it: a code in their
// language, anything else as written.
func reasonText(tr *translator, reason string) string {
	rest, ok := strings.CutPrefix(reason, reasonCodePrefix)
	if !ok {
		return reason
	}
	code, text, _ := strings.Cut(rest, ": ")
	if !slices.Contains(reasonCodes, code) {
		return reason
	}
	if text = strings.TrimSpace(text); text != "" {
		return tr.F("why.code_and_text", tr.T("reasoncode."+code), text)
	}
	return tr.T("reasoncode." + code)
}

// formReason is the reason a clinician's form gives: the code picked from
// the list (reason_code), with what they wrote (reason) after it, or what
// they wrote alone.
func formReason(f url.Values) string {
	text := strings.TrimSpace(f.Get("reason"))
	code := f.Get("reason_code")
	switch {
	case !slices.Contains(reasonCodes, code):
		return text
	case text == "":
		return reasonCodePrefix + code
	}
	return reasonCodePrefix + code + ": " + text
}

// reasonOption is one choice of the list, as a form offers it.
type reasonOption struct {
	Code, Text string
	Selected   bool
}

// reasonOptions are the list's choices in tr's language, with selected
// picked.
func reasonOptions(tr *translator, selected string) []reasonOption {
	out := make([]reasonOption, len(reasonCodes))
	for i, c := range reasonCodes {
		out[i] = reasonOption{Code: c, Text: tr.T("reasoncode." + c), Selected: c == selected}
	}
	return out
}
