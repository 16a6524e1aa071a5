"""The embedded writer: a deterministic, template-based stand-in for an LLM.

It is not a language model. It exists so that the whole pipeline runs offline, in tests and
demos, and obeys the same rules a model's output is checked against: speaker turns, light
disfluencies, a word budget for ~90 s of speech, one planted fictional detail at the planned
depth, and a question whose distractors are never said.
"""

from __future__ import annotations

import random
from typing import Any

from pipeline.core.records import LETTERS, ItemSpec, KeyDetail, Question, Turn
from pipeline.text.compare import mentions
from pipeline.writing.details import make_detail, make_distractors, make_stem


def _fill(template: str, spec: ItemSpec, rng: random.Random) -> str:
    term, term2 = rng.sample(spec.terms, 2)
    text = template.format(
        subtopic=spec.subtopic,
        subtopic_lc=spec.subtopic.lower(),
        main_topic_lc=spec.main_topic.lower(),
        term=term,
        term2=term2,
    )
    return text[0].upper() + text[1:]


def _disfluent(sentence: str, bank: dict[str, Any], rng: random.Random, rate: float) -> str:
    """Light disfluency: a discourse prefix or a filler after the first few words."""
    if rng.random() >= rate:
        return sentence
    dis = bank["disfluency"]
    if rng.random() < 0.5:
        prefix = rng.choice(dis["prefixes"]).rstrip()
        return f"{prefix} {sentence[0].lower()}{sentence[1:]}" if not sentence.startswith("I ") \
            else f"{prefix} {sentence}"
    words = sentence.split()
    if len(words) < 6:
        return sentence
    cut = rng.randint(2, 4)
    head = " ".join(words[:cut]).rstrip(",")
    return f"{head}, {rng.choice(dis['fillers'])}, {' '.join(words[cut:])}"


def _words(sentences: list[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def write_script(spec: ItemSpec, bank: dict[str, Any], words_target: int,
                 disfluency_rate: float, rng: random.Random) -> list[Turn]:
    """Speaker turns on the item's subtopic, about `words_target` words, no key detail yet."""
    part = bank[spec.type]
    body = list(part["body"])
    rng.shuffle(body)
    speakers = [s.id for s in spec.speakers]
    backchannels: list[str] = []
    if len(speakers) > 1:
        backchannels = rng.sample(bank["disfluency"]["backchannels"], rng.randint(1, 2))
    opening = _fill(rng.choice(part["opening"]), spec, rng)
    closing = _fill(rng.choice(part["closing"]), spec, rng)
    budget = words_target - _words([opening, closing, *backchannels])
    sentences = [opening]
    used = 0
    for template in body:
        sentence = _disfluent(_fill(template, spec, rng), bank, rng, disfluency_rate)
        n = len(sentence.split())
        if used + n > budget + 4 or sentence in sentences:
            continue
        sentences.append(sentence)
        used += n
        if used >= budget - 4:
            break
    sentences.append(closing)
    if len(speakers) == 1:
        return _paragraphs(speakers[0], sentences, rng)
    return _dialogue(speakers, sentences, backchannels, rng)


def _paragraphs(speaker: str, sentences: list[str], rng: random.Random) -> list[Turn]:
    turns, i = [], 0
    while i < len(sentences):
        n = rng.randint(3, 5)
        turns.append(Turn(speaker, sentences[i:i + n]))
        i += n
    return turns


def _dialogue(speakers: list[str], sentences: list[str], backchannels: list[str],
              rng: random.Random) -> list[Turn]:
    """Turns of 1-3 sentences; everyone speaks; each backchannel follows some turn."""
    n = len(sentences)
    lo = max(len(speakers) + 2, n // 2)
    sizes = [1] * min(n, rng.randint(lo, lo + 2))
    for _ in range(n - len(sizes)):
        sizes[rng.choice([i for i, s in enumerate(sizes) if s < 3] or range(len(sizes)))] += 1
    after = set(rng.sample(range(len(sizes) - 1), min(len(backchannels), len(sizes) - 1)))
    order = list(speakers)
    rng.shuffle(order)
    turns: list[Turn] = []
    current, i = order[0], 0
    for t, size in enumerate(sizes):
        turns.append(Turn(current, sentences[i:i + size]))
        i += size
        unheard = [s for s in order if s not in {turn.speaker for turn in turns}]
        nxt = unheard[0] if unheard else rng.choice([s for s in speakers if s != current])
        if t in after:
            turns.append(Turn(nxt, [backchannels.pop()]))  # then `current` carries on
            continue
        current = nxt
    return turns


def key_position(decile: int, offset: float, n_total: int) -> int:
    """Index k, 0 <= k < n_total, with k / n_total inside the planned decile."""
    lo = -(-decile * n_total // 10)  # ceil
    hi = max(lo, -(-(decile + 1) * n_total // 10) - 1)
    lo_ok = max(lo, 1) if hi >= 1 else lo  # avoid the opening line when the decile allows
    return min(hi, lo_ok + int(offset * (hi - lo_ok + 1)))


def insert_key(spec: ItemSpec, turns: list[Turn], sentence: str) -> tuple[list[Turn], int]:
    """The turns with `sentence` inserted at the spec's planned depth, and its flat index."""
    flat = [(ti, si) for ti, t in enumerate(turns) for si in range(len(t.text))]
    k = key_position(spec.key_decile, spec.key_offset, len(flat) + 1)
    new = [Turn(t.speaker, list(t.text)) for t in turns]
    if k == len(flat):
        new[-1].text.append(sentence)
    else:
        ti, si = flat[k]
        new[ti].text.insert(si, sentence)
    return new, k


def plant_key(spec: ItemSpec, turns: list[Turn], key_templates: list[dict[str, str]],
              rng: random.Random) -> tuple[list[Turn], KeyDetail]:
    """Insert one key sentence with a fictional detail at the planned depth."""
    sentence, answer, slots = make_detail(
        spec.detail_kind, key_templates, rng, spec.subtopic, list(spec.terms))
    new, k = insert_key(spec, turns, sentence)
    key = KeyDetail(sentence=sentence, index=k, kind=spec.detail_kind, answer=answer,
                    slots=slots)
    return new, key


def write_question(spec: ItemSpec, key: KeyDetail, stem_template: str, transcript_text: str,
                   rng: random.Random) -> Question:
    """Answer plus three unsaid, same-kind distractors, the answer at the planned letter."""
    stem = make_stem(stem_template, key.slots)

    def forbidden(cand: str) -> bool:
        return mentions(transcript_text, cand) or mentions(stem, cand)

    distractors = make_distractors(key.answer, key.kind, rng, key.slots.get("unit", ""),
                                   forbidden, spec.answer_may_be_longest)
    choices = list(distractors)
    choices.insert(LETTERS.index(spec.letter), key.answer)
    return Question(stem=stem, choices=choices, letter=spec.letter)
