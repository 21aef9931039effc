"""The patient as FHIR tells it: FHIR R4 client, ``PatientRecord``, code systems."""
