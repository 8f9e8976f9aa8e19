package medcom

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Response codes of an acknowledgement (MessageHeader.response.code).
const (
	AckOK             = "ok"
	AckFatalError     = "fatal-error"     // the message is wrong: sending it again will not help
	AckTransientError = "transient-error" // we could not take it now: send it again later
)

const (
	profileAck        = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
	profileAckHeader  = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
	profileAckOutcome = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
	profileProvenance = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
	extDestinationUse = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
	extDataAbsent     = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
)

// acknowledgement is the MedCom Acknowledgement message answering m: ok, or
// an error with an OperationOutcome holding issues. It goes back to the
// message's sender from its receiver, copying their Organizations; base is
// this endpoint's FHIR base, the fullUrls' prefix. Parts m lacks (a body
// that was no message) are left out, except the response's identifier,
// which FHIR requires and which then says it is unknown.
func acknowledgement(m *Message, code string, issues []Issue, base string, now time.Time) ([]byte, error) {
	type obj = map[string]any
	ref := func(typ, id string) obj { return obj{"reference": typ + "/" + id} }
	stamp := now.Format(time.RFC3339)
	headerID, provID, outcomeID := newID(), newID(), newID()

	response := obj{"code": code}
	if m.HeaderID != "" {
		response["identifier"] = m.HeaderID
	} else {
		response["_identifier"] = obj{"extension": []obj{{"url": extDataAbsent, "valueCode": "unknown"}}}
	}
	if code != AckOK {
		response["details"] = ref("OperationOutcome", outcomeID)
	}
	header := obj{
		"resourceType": "MessageHeader", "id": headerID, "meta": obj{"profile": []string{profileAckHeader}},
		"eventCoding": obj{"system": SystemEventCodes, "code": EventAcknowledgment},
		"source":      obj{"endpoint": cmp.Or(m.receiverEndpoint, base+"/$process-message")},
		"response":    response,
	}
	if m.senderEndpoint != "" {
		dest := obj{
			"extension": []obj{{"url": extDestinationUse, "valueCoding": obj{"system": sysDestinationUs, "code": "primary"}}},
			"endpoint":  m.senderEndpoint,
		}
		if m.sender != nil {
			dest["receiver"] = ref("Organization", m.senderID)
		}
		header["destination"] = []obj{dest}
	}
	agent := obj{"who": obj{"display": "overblik"}}
	if m.receiver != nil {
		header["sender"] = ref("Organization", m.receiverID)
		agent = obj{"who": ref("Organization", m.receiverID)}
	}
	prov := obj{
		"resourceType": "Provenance", "id": provID, "meta": obj{"profile": []string{profileProvenance}},
		"target":           []obj{ref("MessageHeader", headerID)},
		"occurredDateTime": stamp, "recorded": stamp,
		"activity": obj{"coding": []obj{{"system": SystemActivityCodes, "code": "acknowledgement"}}},
		"agent":    []obj{agent},
	}
	if m.HeaderID != "" {
		prov["entity"] = []obj{{"role": "revision", "what": ref("MessageHeader", m.HeaderID)}}
	}
	entries := []obj{
		{"fullUrl": base + "/MessageHeader/" + headerID, "resource": header},
		{"fullUrl": base + "/Provenance/" + provID, "resource": prov},
	}
	if m.sender != nil {
		entries = append(entries, obj{"fullUrl": base + "/Organization/" + m.senderID, "resource": m.sender})
	}
	if m.receiver != nil && (m.sender == nil || m.receiverID != m.senderID) {
		entries = append(entries, obj{"fullUrl": base + "/Organization/" + m.receiverID, "resource": m.receiver})
	}
	if code != AckOK {
		var out []obj
		for _, is := range issues {
			details := obj{"text": is.Text}
			if is.Detail.code != "" {
				details["coding"] = []obj{{"system": is.Detail.system, "code": is.Detail.code}}
			}
			i := obj{"severity": "error", "code": is.Code, "details": details}
			if is.Expression != "" {
				i["expression"] = []string{is.Expression}
			}
			out = append(out, i)
		}
		entries = append(entries, obj{"fullUrl": base + "/OperationOutcome/" + outcomeID, "resource": obj{
			"resourceType": "OperationOutcome", "id": outcomeID, "meta": obj{"profile": []string{profileAckOutcome}}, "issue": out,
		}})
	}
	b, err := json.Marshal(obj{
		"resourceType": "Bundle", "id": newID(), "meta": obj{"profile": []string{profileAck}},
		"type": "message", "timestamp": stamp, "entry": entries,
	})
	if err != nil {
		return nil, fmt.Errorf("medcom: encode acknowledgement: %w", err)
	}
	return b, nil
}

// newID is a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
