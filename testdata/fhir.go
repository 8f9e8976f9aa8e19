package testdata

// The minimal FHIR R4 JSON shapes the demo writes. Own structs rather than the
// samply models keep the field order readable (resourceType and id first), let
// contained resources be written at all (samply's Appointment drops them) and
// keep this package free of dependencies; the tests decode the output with
// samply to prove it parses.

type meta struct {
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Security    []coding `json:"security,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type extension struct {
	URL            string     `json:"url"`
	ValueReference *reference `json:"valueReference,omitempty"`
}

type address struct {
	Use        string   `json:"use,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
}

type position struct {
	Longitude float64 `json:"longitude"`
	Latitude  float64 `json:"latitude"`
}

type contactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
}

type organization struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	Meta         *meta          `json:"meta,omitempty"`
	Identifier   []identifier   `json:"identifier,omitempty"`
	Active       bool           `json:"active"`
	Type         []concept      `json:"type,omitempty"`
	Name         string         `json:"name"`
	Telecom      []contactPoint `json:"telecom,omitempty"`
	Address      []address      `json:"address,omitempty"`
}

type location struct {
	ResourceType         string         `json:"resourceType"`
	ID                   string         `json:"id"`
	Meta                 *meta          `json:"meta,omitempty"`
	Status               string         `json:"status,omitempty"`
	Name                 string         `json:"name,omitempty"`
	Description          string         `json:"description,omitempty"`
	Mode                 string         `json:"mode,omitempty"`
	Type                 []concept      `json:"type,omitempty"`
	Telecom              []contactPoint `json:"telecom,omitempty"`
	Address              *address       `json:"address,omitempty"`
	PhysicalType         *concept       `json:"physicalType,omitempty"`
	Position             *position      `json:"position,omitempty"`
	ManagingOrganization *reference     `json:"managingOrganization,omitempty"`
}

type practitioner struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         *meta       `json:"meta,omitempty"`
	Active       bool        `json:"active"`
	Name         []humanName `json:"name"`
}

type healthcareService struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	Meta         *meta          `json:"meta,omitempty"`
	Active       bool           `json:"active"`
	ProvidedBy   *reference     `json:"providedBy,omitempty"`
	Type         []concept      `json:"type,omitempty"`
	Location     []reference    `json:"location,omitempty"`
	Name         string         `json:"name"`
	Telecom      []contactPoint `json:"telecom,omitempty"`
}

type patient struct {
	ResourceType         string       `json:"resourceType"`
	ID                   string       `json:"id"`
	Meta                 *meta        `json:"meta,omitempty"`
	Identifier           []identifier `json:"identifier"`
	Active               bool         `json:"active"`
	Name                 []humanName  `json:"name"`
	Gender               string       `json:"gender"`
	BirthDate            string       `json:"birthDate"`
	Address              []address    `json:"address,omitempty"`
	GeneralPractitioner  []reference  `json:"generalPractitioner,omitempty"`
	ManagingOrganization *reference   `json:"managingOrganization,omitempty"`
}

type apptParticipant struct {
	Type     []concept `json:"type,omitempty"`
	Actor    reference `json:"actor"`
	Required string    `json:"required,omitempty"`
	Status   string    `json:"status"`
}

type appointment struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	Meta               *meta             `json:"meta,omitempty"`
	Contained          []any             `json:"contained,omitempty"`
	Extension          []extension       `json:"extension,omitempty"`
	Status             string            `json:"status"`
	CancelationReason  *concept          `json:"cancelationReason,omitempty"`
	ServiceCategory    []concept         `json:"serviceCategory,omitempty"`
	ServiceType        []concept         `json:"serviceType,omitempty"`
	AppointmentType    *concept          `json:"appointmentType,omitempty"`
	Description        string            `json:"description,omitempty"`
	Start              string            `json:"start,omitempty"`
	End                string            `json:"end,omitempty"`
	MinutesDuration    int               `json:"minutesDuration,omitempty"`
	Created            string            `json:"created,omitempty"`
	Comment            string            `json:"comment,omitempty"`
	PatientInstruction string            `json:"patientInstruction,omitempty"`
	Participant        []apptParticipant `json:"participant"`
}

type encParticipant struct {
	Type       []concept `json:"type,omitempty"`
	Individual reference `json:"individual"`
}

type encLocation struct {
	Location reference `json:"location"`
	Status   string    `json:"status,omitempty"`
}

type encounter struct {
	ResourceType    string           `json:"resourceType"`
	ID              string           `json:"id"`
	Meta            *meta            `json:"meta,omitempty"`
	Status          string           `json:"status"`
	Class           coding           `json:"class"`
	Type            []concept        `json:"type,omitempty"`
	ServiceType     *concept         `json:"serviceType,omitempty"`
	Subject         reference        `json:"subject"`
	Participant     []encParticipant `json:"participant,omitempty"`
	Appointment     []reference      `json:"appointment,omitempty"`
	Period          period           `json:"period"`
	ReasonCode      []concept        `json:"reasonCode,omitempty"`
	Location        []encLocation    `json:"location,omitempty"`
	ServiceProvider *reference       `json:"serviceProvider,omitempty"`
}
