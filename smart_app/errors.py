"""Launch and session failures, each with the human page a clinician sees (and a 4xx/5xx status).

Messages never carry a token, a code, a ``state`` value or a patient id: they are shown in the iframe
and may be logged.
"""

from __future__ import annotations


class SmartAppError(Exception):
    status = 400
    title = "The app could not start"
    detail = "Something went wrong while opening evidence-cds."
    relaunch = True  # offer "open the app again from the patient's chart"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class MissingLaunchParameter(SmartAppError):
    title = "Launch information is missing"
    detail = (
        "The EHR opened evidence-cds without the 'iss' and 'launch' parameters of a SMART EHR launch. "
        "Open the app from the patient's chart, or use the standalone launch."
    )


class IssuerNotAllowed(SmartAppError):
    status = 403
    title = "This EHR is not registered"
    detail = (
        "evidence-cds is not configured to connect to this FHIR server, so it refused to start. "
        "Ask your administrator to add it to the allowed issuers."
    )
    relaunch = False


class DiscoveryFailed(SmartAppError):
    status = 502
    title = "The EHR's sign-in service could not be found"
    detail = "The FHIR server did not publish its SMART configuration. Try again, or contact support."


class StateInvalid(SmartAppError):
    status = 400
    title = "This sign-in link is no longer valid"
    detail = (
        "The sign-in response did not match a launch started in this browser, or it was already used. "
        "For your safety it was refused. Open the app again from the patient's chart."
    )


class AuthorizationDenied(SmartAppError):
    status = 403
    title = "Access was not granted"
    detail = "The EHR did not authorise evidence-cds to read this patient's record."


class TokenExchangeFailed(SmartAppError):
    status = 502
    title = "Sign-in could not be completed"
    detail = "The EHR refused to issue an access token. Open the app again from the patient's chart."


class IdTokenInvalid(SmartAppError):
    status = 401
    title = "The sign-in could not be verified"
    detail = "The EHR's identity token failed verification, so evidence-cds did not start."


class NoPatientContext(SmartAppError):
    status = 400
    title = "No patient selected"
    detail = "The EHR did not say which patient to open. Open the app from a patient's chart."


class SessionNotFound(SmartAppError):
    status = 401
    title = "Your session has ended"
    detail = "This evidence-cds session is no longer active. Open the app again from the patient's chart."


class SessionBrowserMismatch(SmartAppError):
    status = 403
    title = "This session belongs to another window"
    detail = "The link was opened outside the browser that launched it. Open the app again from the chart."


class RelaunchRequired(SmartAppError):
    status = 401
    title = "Your access has expired"
    detail = (
        "The EHR access for this session expired or was revoked and could not be renewed. "
        "Open the app again from the patient's chart."
    )


class FhirAccessFailed(SmartAppError):
    status = 502
    title = "The patient's record could not be read"
    detail = "The EHR's FHIR server did not answer as expected. Try again in a moment."


class PatientNotFound(SmartAppError):
    status = 404
    title = "Patient not found"
    detail = "The EHR's FHIR server has no record for the patient in this launch."
