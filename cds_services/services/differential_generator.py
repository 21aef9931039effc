"""Optional rephrasing of the differential by a language model — only ever a rewording, never a source.

Off by default. With ``ddx_generator_url`` set (a hospital's own OpenAI-compatible gateway), the
extractive card detail is handed to a langchain-core chat model with the ranked diagnoses and the
citations it may use (``[S1]``, ``[S2]`` …). :func:`check_output` rejects any output that

* cites a key that was not given, or a URL that was not retrieved,
* names a diagnosis of the knowledge base that is not in the ranked list,
* states a diagnosis as fact ("the patient has …", "diagnosed with …"),

and then the extractive text is shown instead (the rejection reason goes to the audit notes). Any
chat model implementing :class:`~langchain_core.language_models.BaseChatModel` can be plugged in;
:class:`OpenAICompatibleChatModel` is the small in-house client for ``/v1/chat/completions``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import requests
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel

from cds_services.services.differential_evidence import Citation
from knowledge.diseases import Disease, DiseaseKB
from knowledge.diseases.kb import normalize_name

SYSTEM_PROMPT = (
    "You rephrase a ranked differential diagnosis for a clinician, briefly and clearly. Use only the "
    "diagnoses and findings given. Cite only with the given keys like [S1]. Never add a diagnosis, "
    "never add a source, never state a diagnosis as fact: write 'consider' or 'may fit'."
)
_KEY = re.compile(r"\[(S\d+)\]")
_URL = re.compile(r"https?://[^\s)>\]]+")
_FACT = re.compile(
    r"\b(the patient has|patient has|diagnosed with|the diagnosis is|confirms?|definitely)\b", re.I
)


class GuardVerdict(BaseModel):
    accepted: bool
    reason: str = ""


class Rephrased(BaseModel):
    text: str
    generated: bool  # False: the extractive text (no generator, or its output was rejected)
    reason: str = ""


def citation_keys(cites: Sequence[Citation]) -> dict[str, Citation]:
    return {f"S{i}": c for i, c in enumerate(cites, 1)}


def check_output(
    text: str, ranked: Sequence[Disease], cites: Sequence[Citation], kb: DiseaseKB
) -> GuardVerdict:
    """Accept ``text`` only if every citation and every diagnosis it names was given to it."""
    keys = citation_keys(cites)
    for key in _KEY.findall(text):
        if key not in keys:
            return GuardVerdict(accepted=False, reason=f"cites {key}, which was not retrieved")
    urls = {c.url.rstrip("/") for c in cites if c.url}
    for url in _URL.findall(text):
        if url.rstrip("/.,;") not in urls:
            return GuardVerdict(accepted=False, reason="cites a URL that was not retrieved")
    if _FACT.search(text):
        return GuardVerdict(accepted=False, reason="states a diagnosis as fact")
    allowed = {normalize_name(n) for d in ranked for n in (d.name, *d.synonyms)}
    flat = f" {normalize_name(text)} "
    for d in kb.diseases:
        if d in ranked:
            continue
        for name in (d.name, *d.synonyms):
            n = normalize_name(name)
            if len(n) >= 5 and f" {n} " in flat and not any(f" {n} " in f" {a} " for a in allowed):
                return GuardVerdict(accepted=False, reason=f"names {d.name}, which is not in the ranked list")
    return GuardVerdict(accepted=True)


def rephrase(
    extractive: str,
    ranked: Sequence[Disease],
    cites: Sequence[Citation],
    kb: DiseaseKB,
    model: BaseChatModel | None,
) -> Rephrased:
    """The model's rewording of ``extractive`` if it passes :func:`check_output`, else ``extractive``."""
    if model is None:
        return Rephrased(text=extractive, generated=False)
    sources = "\n".join(f"[{k}] {c.label}" for k, c in citation_keys(cites).items())
    prompt = f"Ranked differential:\n{extractive}\n\nSources you may cite:\n{sources}"
    try:
        reply = model.invoke([SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content=prompt)])
    except Exception as err:  # any model failure falls back to the extractive text
        return Rephrased(text=extractive, generated=False, reason=f"generator failed: {type(err).__name__}")
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    verdict = check_output(text, ranked, cites, kb)
    if not verdict.accepted:
        return Rephrased(
            text=extractive, generated=False, reason=f"generator output rejected: {verdict.reason}"
        )
    return Rephrased(text=text, generated=True)


class OpenAICompatibleChatModel(BaseChatModel):
    """Minimal chat model for an OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint."""

    base_url: str
    model: str = "local-model"
    timeout_s: float = 5.0
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        role = {"system": "system", "human": "user", "ai": "assistant"}
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [{"role": role.get(m.type, "user"), "content": m.content} for m in messages],
        }
        if stop:
            body["stop"] = stop
        resp = requests.post(
            f"{self.base_url.rstrip('/')}/chat/completions", json=body, timeout=self.timeout_s
        )
        resp.raise_for_status()
        content = str(resp.json()["choices"][0]["message"]["content"])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content))])


def model_from_settings(url: str | None, model: str, timeout_s: float) -> BaseChatModel | None:
    return OpenAICompatibleChatModel(base_url=url, model=model, timeout_s=timeout_s) if url else None
