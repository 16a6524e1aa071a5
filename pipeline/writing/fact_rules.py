"""The rules a fact sheet proposed by a model must meet (the `facts` task, llm_facts.yaml).

Each returns '' when the reply is fine, else one line saying what is wrong, shown to the model
when it is asked again: the value of each slot in its kind's written form, every value of the
sheet different and sharing no number or name with another, three alternatives per fact of
the same form and about the same length that equal no value of the sheet, confusers about
other subjects than the key's, and a key question that names the key's subject and not its
value (asked from the key sentence alone).
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.core.records import Fact, ItemSpec
from pipeline.text.compare import mentions
from pipeline.writing.rules import KIND_FORMATS, answer_shape_error, check_stem, similar_length


def _shared(a: str, b: str) -> set[str]:
    """Numbers and capitalised words two values have in common."""
    def parts(text: str) -> set[str]:
        return {w for w in re.findall(r"[A-Z][a-z'-]+|\d+", text) if w != "The"}

    return parts(a) & parts(b)


def asked_subject(subject: str) -> str:
    """How a question names a subject: "my cousin Delia" is asked about as "Delia", "the
    glaciologist Delia Yardley" as "Delia Yardley"."""
    subject = re.sub(r"^(?:my|our) [\w-]+ (?=[A-Z])", "", subject)
    return _ROLE.sub("", subject)


# A role before a person's full name ("the glaciologist ", "our account manager "), not an
# organisation's description ("the team at Hollin Labs").
_ROLE = re.compile(r"^(?:the|our) (?:(?!(?:at|of|from|in|for|on|with|and|to) )[a-z][\w-]* )+"
                   r"(?=[A-Z][a-z]+ [A-Z][a-z]+$)")


def slot_lines(spec: ItemSpec) -> str:
    """The planned slots as the prompt lists them: kind, form, position, role."""
    lines = []
    for i, f in enumerate(spec.facts):
        role = {"key": "key (the question asks for it)",
                "confuser": "confuser (the key's fact, about another subject)"}.get(f.role, "")
        lines.append(f"{i + 1}. {f.kind}: {KIND_FORMATS[f.kind][0]}; said about "
                     f"{f.position:.0%} of the way in" + (f"; {role}" if role else ""))
    return "\n  ".join(lines)


def check_fact_sheet(data: dict[str, Any], spec: ItemSpec) -> str:
    facts = data["facts"]
    planned = spec.facts
    if len(facts) != len(planned):
        return f"write exactly {len(planned)} facts, one per slot, not {len(facts)}"
    values = [str(f["value"]).strip() for f in facts]
    for i, (f, plan) in enumerate(zip(facts, planned, strict=True)):
        value = values[i]
        if error := answer_shape_error(value, plan.kind):
            return f"fact {i + 1}: {error}"
        for j in range(i):
            if value.lower() == values[j].lower():
                return f"facts {j + 1} and {i + 1} have the same value {value!r}"
            if shared := _shared(value, values[j]):
                return (f"facts {j + 1} and {i + 1} share {sorted(shared)[0]!r}; values "
                        "share no number or name")
        alts = [str(a).strip() for a in f["alternatives"]]
        if len(set(a.lower() for a in alts)) != 3 or value.lower() in (a.lower() for a in alts):
            return f"fact {i + 1}: the three alternatives must differ from each other and " \
                   "from the value"
        for a in alts:
            if error := answer_shape_error(a, plan.kind):
                return f"fact {i + 1}, alternative {a!r}: {error}"
            if a.lower() in (v.lower() for v in values):
                return (f"fact {i + 1}: alternative {a!r} is a value of the sheet; "
                        "alternatives are never said")
            if not similar_length(a, value):
                return (f"fact {i + 1}: alternative {a!r} has {len(a)} characters; keep "
                        f"within {max(3, len(value) // 4)} of the value's {len(value)}")
        if plan.kind == "quantity" and any(a.split(" ", 1)[1] != value.split(" ", 1)[1]
                                           for a in alts):
            return f"fact {i + 1}: the alternatives must use the same unit as {value!r}"
    key_i = next(i for i, f in enumerate(planned) if f.id == spec.key_fact)
    key = facts[key_i]
    for i, plan in enumerate(planned):
        if plan.role == "confuser" and facts[i]["subject"].strip().lower() == \
                key["subject"].strip().lower():
            return (f"fact {i + 1} is a confuser: it is about another subject than the key "
                    f"fact's {key['subject']!r}")
    if error := check_stem({"question": key["question"]}, values[key_i],
                           asked_subject(key["subject"].strip())):
        return f"the key fact's question: {error}"
    for a in key["alternatives"]:
        if mentions(key["question"], str(a)):
            return f"the key fact's question contains the alternative {a!r}"
    return ""


def sheet_from_reply(data: dict[str, Any], spec: ItemSpec) -> list[Fact]:
    """The planned sheet with the model's subjects, contexts and values. The key keeps the
    model's alternatives (as many as the confusers leave) and its question; a fact the model
    left as planned is kept whole (its frame, slots and alternatives)."""
    out: list[Fact] = []
    n_conf = sum(f.role == "confuser" for f in spec.facts)
    for f, plan in zip(data["facts"], spec.facts, strict=True):
        subject, value = f["subject"].strip(), f["value"].strip()
        if subject == plan.subject and value == plan.value:
            out.append(plan)  # the model kept the planned fact: keep it whole
            continue
        slots = {"term": plan.slots.get("term", ""), "who": asked_subject(subject)}
        if plan.slots.get("unit") and plan.kind == "quantity":
            slots["unit"] = value.split(" ", 1)[1]
        alternatives: list[str] = []
        if plan.id == spec.key_fact:
            slots["ask"] = f["question"].strip()
            alternatives = [a.strip() for a in f["alternatives"]][:3 - n_conf]
        out.append(Fact(id=plan.id, kind=plan.kind, subject=subject,
                        context=f["context"].strip(), value=value, position=plan.position,
                        frame=plan.frame, slots=slots, role=plan.role,
                        alternatives=alternatives))
    return out
