"""The dataset card (`README.md`) of a published run: YAML front matter the Hub reads, and prose
a reviewer can check: what is measured, how it was made, statistics, licences, citation.

Everything comes from the run's manifest, the published subsets and the audit's report; the
card holds no timestamp, so the same run publishes the same card.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.config import Config, PublishConfig
from pipeline.core.grid import tolerance_for
from pipeline.core.urls import redact_url
from pipeline.publishing.model import ItemInfo, Subset, human_bytes
from pipeline.text.numbers import spoken_amount_value
from pipeline.tts.licences import CPML, audio_licence, tts_description

__all__ = ["CPML", "CardInputs", "build_card", "redact_url"]

REPO_PLACEHOLDER = "<org>/<name>"  # `spiral push` writes the real repo id in its place

# As SPIRAL's repository (linyueqian/SPIRAL_Dataset, README "Citation") asks to be cited.
SPIRAL_CITATION = """@inproceedings{lin2025speechprune,
  title     = {SpeechPrune: Context-aware Token Pruning for Speech Information Retrieval},
  author    = {Lin, Yueqian and Fu, Yuzhe and Zhang, Jingyang and Liu, Yudong and
               Zhang, Jianyi and Sun, Jingwei and Li, Hai and Chen, Yiran},
  booktitle = {2025 IEEE International Conference on Multimedia and Expo (ICME)},
  year      = {2025}
}"""


@dataclass
class CardInputs:
    manifest: dict[str, Any]
    built_with: Config  # the config the run was built with
    publish: PublishConfig
    subsets: list[Subset]
    features: Any  # datasets.Features
    items: list[ItemInfo]
    tagged: bool  # the run's difficulty file existed
    hard_by: dict[str, Any] | None = None  # difficulty.definer: {"model", "proxy"}
    unknown_tags: list[str] = field(default_factory=list)  # tagged ids not in the export
    audit: dict[str, Any] | None = None  # the audit's result (audit.json)
    audit_md: str | None = None
    plots: list[str] = field(default_factory=list)  # file names under plots/
    spiral_files: bool = True
    reseeds: dict[str, list[int]] = field(default_factory=dict)
    example: dict[str, Any] | None = None  # one published SPIRAL record
    baseline_md: str | None = None  # the baseline's table (baseline/baseline.md)
    baseline_adapter: dict[str, Any] | None = None  # baseline.json's adapter_settings


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def front_matter(inp: CardInputs) -> str:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    licence = audio_licence(inp.built_with.tts).card_fields or {"license": inp.publish.license}
    data = DatasetCardData(
        pretty_name=inp.publish.pretty_name,
        language=["en"],
        **licence,
        task_categories=["question-answering", "audio-text-to-text"],
        task_ids=["multiple-choice-qa"],
        tags=["synthetic", "speech", "spoken-question-answering", "long-context", "benchmark",
              "spiral"],
        size_categories=[size_category(len(inp.items))],
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        source_datasets=["original"],
        configs=[{"config_name": s.name,
                  "data_files": [{"split": "test", "path": f"data/{s.name}/test-*.parquet"}],
                  **({"default": True} if s.name == "default" else {})}
                 for s in inp.subsets],
    )
    infos = DatasetInfosDict()
    for s in inp.subsets:
        splits = SplitDict()
        splits.add(SplitInfo(name="test", num_bytes=s.num_bytes, num_examples=s.num_examples))
        infos[s.name] = DatasetInfo(features=inp.features, splits=splits, config_name=s.name,
                                    download_size=s.download_size, dataset_size=s.num_bytes)
    infos.to_dataset_card_data(data)
    return data.to_yaml()


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _audit_section(inp: CardInputs) -> str:
    if inp.audit_md is None:
        return ("No audit report was supplied when this card was written; the counts above "
                "are all the statistics it carries.")
    text = inp.audit_md.strip()
    text = re.sub(r"^(#+) ", lambda m: "##" + m.group(1) + " ", text, flags=re.M)
    shown = []
    for name in inp.plots:
        pattern = rf"\]\((?:\./)?(?:[^)\s]*/)?{re.escape(name)}\)"
        text, n = re.subn(pattern, f"](plots/{name})", text)
        if n:
            shown.append(name)
    extra = [f"![{name.rsplit('.', 1)[0]}](plots/{name})" for name in inp.plots
             if name not in shown]
    return "\n\n".join([text, *extra])


def _contents(inp: CardInputs) -> str:
    types = Counter(it.type for it in inp.items)
    letters = Counter(it.letter for it in inp.items)
    durations = [it.duration for it in inp.items]
    n = len(inp.items)
    rows = [(f"`{s.name}`", s.description, s.num_examples, f"{s.hours:.2f}", len(s.shards),
             human_bytes(s.download_size)) for s in inp.subsets]
    lines = [_table(("config", "what", "items", "audio hours", "parquet shards", "on disk"),
                    rows), ""]
    lines.append("Items by type: " + ", ".join(f"{t} {types[t]}" for t in sorted(types))
                 + ". Correct letter: " + ", ".join(
                     f"{ltr} {100 * letters[ltr] / n:.1f}%" for ltr in "ABCD") + ".")
    lines.append(f"Audio per item: mean {sum(durations) / n:.1f} s, "
                 f"min {min(durations):.1f} s, max {max(durations):.1f} s.")
    return "\n".join(lines)


def _version(text: str) -> str:
    """`1.51` of espeak-ng's "eSpeak NG text-to-speech: 1.51  Data at: ..." banner."""
    found = re.search(r"\d+(?:\.\d+)+", text)
    return found.group(0) if found else text


def _generation(inp: CardInputs) -> str:
    m, cfg = inp.manifest, inp.built_with
    versions = m.get("versions", {})
    llm = (f"`{cfg.llm.backend}` (model `{cfg.llm.model}`"
           + (f", endpoint `{redact_url(cfg.llm.base_url)}`" if cfg.llm.base_url else "")
           + f", temperature {cfg.llm.temperature})")
    counts = m.get("counts", {})
    rows = [
        ("pipeline", f"spiral-pipeline {versions.get('pipeline', '?')}"),
        ("run / seed", f"`{cfg.run}` / {m['seed']}"),
        ("items", f"{counts.get('planned', '?')} planned, {counts.get('built', '?')} built, "
                  f"{counts.get('failed', '?')} left out by the gates"),
        ("writer (LLM)", llm),
        ("speech (TTS)", tts_description(cfg.tts)
         + (f" {_version(versions['espeak-ng'])}" if cfg.tts.backend == "espeak"
            and "espeak-ng" in versions else "")
         + (f" (coqui-tts {versions['coqui-tts']}, device {cfg.tts.device})"
            if cfg.tts.backend == "coqui" and "coqui-tts" in versions else "")),
        ("audio", f"{cfg.audio.sample_rate} Hz mono, {cfg.audio.loudness_lufs} LUFS, target "
                  + (f"lengths {', '.join(f'{x:g}' for x in cfg.lengths)} s (a grid: "
                     "metadata.target_seconds)" if cfg.lengths else
                     f"{cfg.audio.target_seconds:g} +- "
                     f"{tolerance_for(cfg.audio, cfg.audio.target_seconds):g} s")),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())
                                if k not in ("pipeline", "espeak-ng"))),
    ]
    prompts = [(f"`{name}`", f"`{digest[:12]}`") for name, digest
               in sorted(m.get("prompt_hashes", {}).items())]
    text = [_table(("", ""), rows), "",
            "Prompt and bank versions (SHA-256 prefixes of the files in `prompts/`; voices "
            f"file `{m.get('voices_hash', '?')[:12]}`):", "",
            _table(("file", "sha256"), prompts), ""]
    if cfg.llm.backend == "offline":
        text.append("The transcripts come from the pipeline's embedded offline writer, a "
                    "deterministic template-based stand-in for an LLM: fluent but formulaic. "
                    "Treat this build as a demonstration of the format, not as a benchmark of "
                    "natural speech.\n")
    exact = cfg.llm.backend == "offline" and cfg.tts.backend == "espeak"
    text.append(("Regenerate it byte for byte (its writer and speech backends are "
                 "deterministic) " if exact else
                 f"Rebuild it (the `{cfg.llm.backend}` writer or the `{cfg.tts.backend}` "
                 "voices need not give the same bytes on another machine) ")
                + "with the config it was built with, `generation/spiral.yaml`"
                + (" and its re-rolls, `generation/reseeds.json` (copy it to "
                   f"`data/runs/{cfg.run}/reseeds.json` first)" if inp.reseeds else "")
                + ":\n\n```bash\nspiral run --config generation/spiral.yaml\n```\n\nA "
                "fresh subset is any other seed: `spiral run --config generation/spiral.yaml "
                "--seed 7 --n 50 --run seed7-n50`.")
    if inp.reseeds:
        listed = ", ".join(f"`{k}`" for k in sorted(inp.reseeds))
        text.append(f"\nItems rebuilt from new seeds after a gate rejected them or a reroll "
                    f"(specs kept; the seed history "
                    f"is in each record's `provenance.seed_history` and in the run's "
                    f"`reseeds.json`): {listed}.")
    return "\n".join(text)


def _difficulty(inp: CardInputs) -> str:
    if not inp.tagged:
        return ("No model had tagged this run (`spiral eval --tag`) when it was published, so "
                "there is no `hard` config, no `data_h.jsonl`, and the `difficulty` column is "
                "empty.")
    by = inp.hard_by or {"model": None, "proxy": True}
    who = f"`{by['model']}`" if by["model"] else "a model the tag file does not name"
    hard = next((s for s in inp.subsets if s.name == "hard"), None)
    if hard is None and by["proxy"]:
        text = (f"The difficulty tags come from {who}, an offline proxy (or no named model), "
                "so they are not published as a `hard` config or `data_h.jsonl` "
                "(`publish.hard_from_proxy` would).")
    else:
        n = hard.num_examples if hard else 0
        text = (f"The `hard` config holds the {n} items that {who} answered wrongly with the "
                "choices in their original order (`spiral eval --tag`); SPIRAL's hard subset "
                "was the items unpruned Qwen2-Audio, hearing only the first 30 s, gets wrong.")
        if by["proxy"]:
            text += (" This subset is defined by an offline proxy (ASR words matched against "
                     "the choices), not by a speech model: with the first 30 s it mostly marks "
                     "items whose answer is said after them.")
    text += (" Each row's `difficulty` column has the tags (`hard`, `too_easy`: a text-only "
             "pass right in at least 3 of 4 rotations of the choices; the rest as JSON in "
             "`details`).")
    if inp.unknown_tags:
        text += (f" {len(inp.unknown_tags)} tagged ids are not in this export and were "
                 "ignored.")
    return text


CLEAN_AUDIO_FIELD = ("| `clean_audio` | the same item before its acoustic conditions (no noise, "
                     "room or phone line; same timeline and loudness) |\n")


def _fields(inp: CardInputs) -> str:
    """The field table; the clean-audio column only where the dataset has it."""
    if "clean_audio" not in inp.features:
        return FIELDS
    at = FIELDS.index("| `timestamps`")
    return FIELDS[:at] + CLEAN_AUDIO_FIELD + FIELDS[at:]


FIELDS = """| field | what |
| --- | --- |
| `transcript` | speaker turns; each turn's `text` is a list of sentences (SPIRAL) |
| `original_key_sentence` | the sentence carrying the critical detail (SPIRAL) |
| `test_question` | `question`, four `choices` prefixed `A. `..`D. `, `correct_answer` (SPIRAL) |
| `answer_label` | the correct choice as an integer 0-3 (A-D) |
| `metadata` | `main_topic`, `subtopic`, `transcript_type`, `id` (SPIRAL) |
| `audio_data` | audio file names, voice per speaker, flat sentence list, key `indices` (SPIRAL) |
| `audio`, `key_audio` | the whole item, the key sentence alone: embedded, decoded |
| `timestamps` | `[start, end]` seconds of every sentence and of the key sentence |
| `voices` | each speaker's voice id and gender |
| `duration`, `sample_rate` | seconds, Hz |
| `key_detail` | `kind`, `answer` as said, `depth` (key decile), `confusers`, `facts` (sheet) |
| `checks` | each validation check: `name`, `ok`, `reason` |
| `difficulty` | difficulty tags (`hard`, `too_easy`, `details` JSON), null when untagged |
| `provenance` | JSON: pipeline version, run and item seeds, seed history, backends |

`audio_data.combined.prompts_used` is a list of `{speaker, prompt}`, one per speaker of the
item (SPIRAL's mapping, as a list)."""


def _durations(inp: CardInputs) -> tuple[float, float, float]:
    d = [it.duration for it in inp.items]
    return sum(d) / len(d), min(d), max(d)


PHRASE_WORDS = 3  # an answer of this many words is a phrase, as the audit counts them


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1],
                                                                                  kv[0])))


def _answer_forms(inp: CardInputs) -> str:
    """What the answers are, counted from the published items (the audit counts phrases the
    same way), with one of each form as it is written in the choices."""
    answered = [it for it in inp.items if it.answer]
    if not answered:
        return ""
    phrases = [it for it in answered if len(it.answer.split()) >= PHRASE_WORDS
               and spoken_amount_value(it.answer) is None]
    values = [it for it in answered if it not in phrases]
    parts = []
    for group, what in ((values, "short details of one or two words"),
                        (phrases, f"phrases of {PHRASE_WORDS} or more words")):
        if group:
            kinds = Counter(it.kind or "unknown" for it in group)
            parts.append(f"{len(group)} are {what} ({_kinds(kinds)}; e.g. "
                         f"`{group[0].answer}`)")
    return (f"Of the {len(answered)} answers, " + " and ".join(parts) + ". Each is written in "
            "the choices as text and spoken as words; an item's wrong choices are of its "
            "answer's kind.")


def _gate_share(inp: CardInputs) -> str:
    """How many generated attempts the gates rejected: the audit's count (from
    rejections.jsonl), else the manifest's; a sentence only when one of them recorded it."""
    rj = (inp.audit or {}).get("rejections")
    if rj and rj.get("attempts"):
        asr = rj.get("asr_rejected")
        return (f"In this build {rj['rejected']} of {rj['attempts']} generated attempts "
                f"({100 * rj['rejected_share']:.1f}%) were rejected by a gate"
                + (f", {asr} of them ({100 * asr / rj['attempts']:.1f}% of attempts) by the "
                   "ASR checks" if asr else "")
                + ", and rebuilt from new seeds or left out.")
    counts = inp.manifest.get("counts") or {}
    rejected, built = counts.get("rejected_attempts"), counts.get("built")
    if isinstance(rejected, int) and isinstance(built, int):
        attempts = rejected + built
        if rejected == 0:
            return f"In this build no attempt was rejected by a gate ({attempts} attempts)."
        return (f"In this build {rejected} of {attempts} generated attempts "
                f"({100 * rejected / attempts:.1f}%) were rejected by a gate, and rebuilt "
                "from new seeds or left out.")
    return "The share of attempts the gates rejected was not recorded for this build."


def _limitations(inp: CardInputs) -> str:
    cfg = inp.built_with
    policy = audio_licence(cfg.tts)
    voices = ("espeak-ng formant voices: robotic, clearly synthetic, far easier or harder than "
              "human speech in ways that are not measured" if policy.kind == "espeak" else
              f"voices rendered by {tts_description(cfg.tts)}"
              + (", cloned from reference recordings" if policy.kind == "xtts" else ""))
    gate = _gate_share(inp)
    by = inp.hard_by or {"model": None, "proxy": True}
    if not inp.tagged:
        hard = "No model had tagged this run (`spiral eval --tag`), so nothing is tagged hard."
    elif by["proxy"]:
        hard = (f"Difficulty tags came from `{by['model']}`, an offline proxy (ASR words "
                "matched against the choices), not a speech language model: hard for it need "
                "not be hard for one.")
    else:
        hard = (f"`hard` was defined by `{by['model']}` (`spiral eval --tag`): the items it "
                "answers wrongly with the choices in their original order.")
    return "\n".join([
        f"- **Synthetic speech.** All audio is {voices}; results need not transfer to "
        "recorded speech.",
        "- **Selection by the ASR gate.** Items whose key sentence a speech recogniser "
        "(faster-whisper) could not transcribe well enough, or whose answer it did not hear, "
        "were rejected, so the benchmark keeps items that are intelligible to ASR, a bias "
        f"toward easy audio. {gate}",
        "- **English only**, one speaker at a time: no background noise, no overlapping "
        "speech, no channel effects.",
        *([f"- **Answer forms.** {forms}"] if (forms := _answer_forms(inp)) else []),
        f"- **Difficulty.** {hard}",
        *(["- **Writer.** The transcripts come from a template-based offline writer: fluent "
           "but formulaic, so a text model may learn its patterns."]
          if cfg.llm.backend == "offline" else []),
    ])


EVALUATION = """Play the item's audio (`audio`) to the model with the question and the four
choices as they appear in `test_question.choices` (`A. ...` to `D. ...`), and the instruction
"Answer with the letter of the correct choice only." The pipeline's baseline (SpeechPrune's
protocol for Qwen2-Audio) reads the answer as the letter among A-D with the highest
log-probability at the first answer token; a model that generates text is scored on the
first letter A-D it outputs. The metric is accuracy: the share of items whose letter equals
`answer_label` (0-3 for A-D; `test_question.correct_answer` is the same choice as text).
Chance is 25%; report it overall and per `metadata.transcript_type`."""


def _example(inp: CardInputs) -> str:
    rec = inp.example
    if rec is None:
        return ""
    q = rec["test_question"]
    meta = rec["metadata"]
    lines = [f"`{meta['id']}` ({meta['transcript_type']}, {meta['main_topic']} / "
             f"{meta['subtopic']}, {rec.get('duration', 0):.1f} s). Key sentence: "
             f"\"{rec['original_key_sentence']}\"", "", f"> {q['question']}", ">"]
    lines += [f"> {c}" + ("  (correct)" if c == q["correct_answer"] else "")
              for c in q["choices"]]
    return "\n".join(lines)


def _baseline(inp: CardInputs) -> str:
    if not inp.baseline_md:
        return ("The baseline (`spiral baseline`) had not run when this card was written.")
    text = inp.baseline_md.strip()
    return re.sub(r"^(#+) ", lambda m: "##" + m.group(1) + " ", text, flags=re.M)


def _citations(inp: CardInputs) -> str:
    m = inp.manifest
    key = re.sub(r"[^a-z0-9]+", "_", inp.publish.pretty_name.lower()).strip("_")[:40]
    own = ("@misc{" + key + ",\n"
           f"  title        = {{{inp.publish.pretty_name}}},\n"
           f"  howpublished = {{\\url{{https://huggingface.co/datasets/{REPO_PLACEHOLDER}}}}},\n"
           f"  note         = {{Synthetic SPIRAL-style benchmark built with spiral-pipeline "
           f"{m.get('versions', {}).get('pipeline', '?')}, run {inp.built_with.run}, seed "
           f"{m['seed']}}}\n}}")
    return ("This dataset follows the design of SPIRAL; cite it as SPIRAL's repository asks:"
            "\n\n```bibtex\n" + SPIRAL_CITATION + "\n```\n\nand this dataset itself:\n\n"
            "```bibtex\n" + own + "\n```")


def _words(names: list[str]) -> str:
    """["a", "b", "c"] -> "a, b or c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _top_kinds(inp: CardInputs) -> str:
    kinds = Counter(it.kind for it in inp.items if it.kind)
    if not kinds:
        return "one detail per item"
    top = [k for k, _ in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ("a " + _words(top) if len(top) <= 5 else "a " + ", ".join(top[:5]) + ", ...")


def _measured(inp: CardInputs) -> str:
    """The balance and distractor claims as the audit measured them, when it did."""
    a = inp.audit
    if not a:
        return "; this card carries no audit to show how well they are."
    said = (a.get("distractor_said") or {}).get("share")
    verdict = {t["name"]: t["ok"] for t in a.get("thresholds", [])}
    state = {True: "within tolerance", False: "outside tolerance",
             None: "not checked (too few items)"}
    parts = [f"the correct letters are {state[verdict.get('letter_balance')]}",
             f"the key depths {state[verdict.get('key_depth_balance')]}"]
    if said is not None:
        parts.append("no item has a wrong choice said in its audio" if said == 0 else
                     f"{100 * said:.1f}% of items have a wrong choice said in their audio")
    text = "; in the audit, " + ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + " (see Statistics)."


def build_card(inp: CardInputs) -> str:
    policy = audio_licence(inp.built_with.tts)
    hard = any(s.name == "hard" for s in inp.subsets)
    repo = REPO_PLACEHOLDER
    load = ["```python", "from datasets import load_dataset", "",
            f'ds = load_dataset("{repo}", split="test")           # config "default"']
    if hard:
        load.append(f'hard = load_dataset("{repo}", "hard", split="test")')
    load += [f'stream = load_dataset("{repo}", split="test", streaming=True)',
             'row = ds[0]; row["audio"]  # decoded audio, no other file needed', "```"]
    spiral = ""
    if inp.spiral_files:
        spiral = ("\n\nFor evaluation code written for the original SPIRAL release, `spiral/` "
                  "holds the same items in its format: `data.jsonl`"
                  + (", `data_h.jsonl` (hard subset)" if hard else "")
                  + ", `wavs/` and `key_wavs/` (24 kHz wav, named as the records say). As in "
                  "SPIRAL's records, `audio_folder` is `spiral/wavs` and `audio_dir` "
                  "`spiral/key_wavs`, relative to the folder that holds `spiral/` (this "
                  "repository's root).")
    mean, lo, hi = _durations(inp)
    audio_note = policy.text
    if policy.kind == "espeak":
        audio_note = ("The audio was rendered with espeak-ng, a formant synthesiser. "
                      + policy.text + " The audio carries the dataset's licence; the voices "
                      "are synthetic and imitate no real person.")
    sections = [
        f"# {inp.publish.pretty_name}",
        "A synthetic benchmark for long-context speech language models in the style of SPIRAL "
        "(from the SpeechPrune paper, [arXiv 2412.12009](https://arxiv.org/abs/2412.12009)). "
        f"Each item is {mean:.0f} seconds on average ({lo:.0f}-{hi:.0f} s) of spoken "
        f"{_words(sorted({it.type for it in inp.items}))} that hides one key sentence with a "
        f"critical detail ({_top_kinds(inp)}). A four-choice question (A-D) asks for that "
        "detail, so a model must find one sentence in a long recording: it measures speech "
        "information retrieval over long audio, not general comprehension. The planner "
        "assigns answer letters, key-sentence depth, transcript type and speaker gender to "
        "balance them" + _measured(inp),
        "## Contents\n\n" + _contents(inp),
        "## Loading\n\n" + "\n".join(load) + spiral,
        "## Fields\n\n" + _fields(inp),
        *(["## Example\n\n" + _example(inp)] if inp.example else []),
        "## Evaluation protocol\n\n" + EVALUATION + (
            " Report the `hard` config separately." if hard else ""),
        "## Baseline\n\n" + _baseline(inp),
        "## How it was generated\n\n" + _generation(inp),
        "## Difficulty\n\n" + _difficulty(inp),
        "## Statistics (audit)\n\n" + _audit_section(inp),
        "## Limitations\n\n" + _limitations(inp),
        "## Licence\n\n" + _licence_text(inp) + "\n\n" + audio_note,
        "## Citation\n\n" + _citations(inp),
    ]
    return "---\n" + front_matter(inp) + "\n---\n\n" + "\n\n".join(sections) + "\n"


def _licence_text(inp: CardInputs) -> str:
    override = audio_licence(inp.built_with.tts).card_fields
    if override:
        return (f"Licence: `{override['license_name']}` ({override['license_link']}), set by "
                "the speech model; the transcripts and questions are synthetic.")
    return (f"Licence: `{inp.publish.license}` for the transcripts, questions and audio, all "
            "machine-generated.")
