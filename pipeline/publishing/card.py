"""The dataset card (`README.md`) of a published run: YAML front matter the Hub reads, and prose
a reviewer can check: what is measured, how it was made, statistics, licences, citation.

Everything comes from the run's manifest, the published subsets and the audit's report; the
card holds no timestamp, so the same run publishes the same card.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pipeline.core.config import Config, PublishConfig

if TYPE_CHECKING:
    from pipeline.publishing.publish import ItemInfo, Subset

SPIRAL_CITATION = """@article{lin2024speechprune,
  title   = {SpeechPrune: Context-aware Token Pruning for Speech Information Retrieval},
  author  = {Lin, Yueqian and Fu, Yuzhe and Zhang, Jingyang and Liu, Yudong and
             Zhang, Jianyi and Sun, Jingwei and Li, Hai Helen and Chen, Yiran},
  journal = {arXiv preprint arXiv:2412.12009},
  year    = {2024}
}"""

CPML = {"license": "other", "license_name": "coqui-public-model-license",
        "license_link": "https://coqui.ai/cpml"}


@dataclass
class CardInputs:
    manifest: dict[str, Any]
    built_with: Config  # the config the run was built with
    publish: PublishConfig
    subsets: list[Subset]
    features: Any  # datasets.Features
    items: list[ItemInfo]
    tagged: bool  # the baseline's difficulty file existed
    unknown_tags: list[str] = field(default_factory=list)  # tagged ids not in the export
    audit_md: str | None = None
    plots: list[str] = field(default_factory=list)  # file names under plots/
    spiral_files: bool = True
    reseeds: dict[str, list[int]] = field(default_factory=dict)


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def audio_licence(tts: dict[str, Any]) -> tuple[dict[str, str] | None, str]:
    """(licence fields overriding the card's, a note on the audio) for the TTS that spoke it."""
    said = " ".join(str(v) for v in tts.values()).lower()
    if tts.get("backend") == "coqui" and "xtts" in said:
        return CPML, ("The audio was rendered with Coqui XTTS v2, whose weights are under the "
                      "[Coqui Public Model License](https://coqui.ai/cpml) (non-commercial). "
                      "The CPML covers the model's outputs too: the audio, and so this "
                      "dataset, may be used for non-commercial purposes only.")
    if tts.get("backend") == "espeak":
        return None, ("The audio was rendered with espeak-ng, a formant synthesiser "
                      "(GPL-3.0-or-later). The GPL covers the program, not the speech it "
                      "produces, so the audio carries the dataset's licence. The voices are "
                      "synthetic and imitate no real person.")
    return None, (f"The audio was rendered with the `{tts.get('backend')}` backend; check the "
                  "licence of its model before reusing the audio.")


def redact_url(url: str | None) -> str | None:
    """An endpoint URL without user, password or query: they may carry credentials."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def front_matter(inp: CardInputs) -> str:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    override, _ = audio_licence(inp.manifest["config"]["tts"])
    licence = override or {"license": inp.publish.license}
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
             f"{s.download_size / 1e6:.1f} MB") for s in inp.subsets]
    lines = [_table(("config", "what", "items", "audio hours", "parquet shards", "on disk"),
                    rows), ""]
    lines.append("Items by type: " + ", ".join(f"{t} {types[t]}" for t in sorted(types))
                 + ". Correct letter: " + ", ".join(
                     f"{ltr} {100 * letters[ltr] / n:.1f}%" for ltr in "ABCD") + ".")
    lines.append(f"Audio per item: mean {sum(durations) / n:.1f} s, "
                 f"min {min(durations):.1f} s, max {max(durations):.1f} s.")
    return "\n".join(lines)


def _generation(inp: CardInputs) -> str:
    m, cfg = inp.manifest, inp.built_with
    versions = m.get("versions", {})
    llm = (f"`{cfg.llm.backend}` (model `{cfg.llm.model}`"
           + (f", endpoint `{redact_url(cfg.llm.base_url)}`" if cfg.llm.base_url else "")
           + f", temperature {cfg.llm.temperature})")
    tts = ", ".join(f"{k}={v}" for k, v in m["config"]["tts"].items())
    counts = m.get("counts", {})
    rows = [
        ("pipeline", f"spiral-pipeline {versions.get('pipeline', '?')}"),
        ("run / seed", f"`{cfg.run}` / {m['seed']}"),
        ("items", f"{counts.get('planned', '?')} planned, {counts.get('built', '?')} built, "
                  f"{counts.get('failed', '?')} left out by validation"),
        ("writer (LLM)", llm),
        ("speech (TTS)", f"{tts}" + (f"; espeak-ng {versions['espeak-ng']}"
                                      if "espeak-ng" in versions else "")),
        ("audio", f"{cfg.audio.sample_rate} Hz mono, {cfg.audio.loudness_lufs} LUFS, target "
                  f"{cfg.audio.target_seconds:g} +- {cfg.audio.tolerance_seconds:g} s"),
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
    text.append("Regenerate it byte for byte (deterministic backends) with the config it was "
                "built with, `generation/spiral.yaml`"
                + (" and its re-rolls, `generation/reseeds.json` (copy it to "
                   f"`data/runs/{cfg.run}/reseeds.json` first)" if inp.reseeds else "")
                + ":\n\n```bash\nspiral run --config generation/spiral.yaml\n```\n\nA "
                "fresh subset is any other seed: `spiral run --config generation/spiral.yaml "
                "--seed 7 --n 50 --run seed7-n50`.")
    if inp.reseeds:
        listed = ", ".join(f"`{k}`" for k in sorted(inp.reseeds))
        text.append(f"\nRe-rolled items (rebuilt from new seeds, specs kept; the seed history "
                    f"is in each record's `provenance.seed_history` and in the run's "
                    f"`reseeds.json`): {listed}.")
    return "\n".join(text)


def _difficulty(inp: CardInputs) -> str:
    if not inp.tagged:
        return ("No baseline had tagged this run when it was published, so there is no "
                "`hard` config, no `data_h.jsonl`, and the `difficulty` column is empty.")
    hard = next((s for s in inp.subsets if s.name == "hard"), None)
    n = hard.num_examples if hard else 0
    text = (f"The `hard` config holds the {n} items the baseline answered wrongly "
            "(SPIRAL's hard subset was the items unpruned Qwen2-Audio, hearing only the first "
            "30 s, gets wrong). Each row's `difficulty` column has the baseline's tags "
            "(`hard`, `too_easy`, and the rest as JSON in `details`).")
    if inp.unknown_tags:
        text += (f" {len(inp.unknown_tags)} tagged ids are not in this export and were "
                 "ignored.")
    return text


FIELDS = """| field | what |
| --- | --- |
| `transcript` | speaker turns; each turn's `text` is a list of sentences (SPIRAL) |
| `original_key_sentence` | the sentence carrying the critical detail (SPIRAL) |
| `test_question` | `question`, four `choices` prefixed `A. `..`D. `, `correct_answer` (SPIRAL) |
| `metadata` | `main_topic`, `subtopic`, `transcript_type`, `id` (SPIRAL) |
| `audio_data` | audio file names, voice per speaker, flat sentence list, key `indices` (SPIRAL) |
| `audio`, `key_audio` | the whole item, the key sentence alone: embedded, decoded |
| `timestamps` | `[start, end]` seconds of every sentence and of the key sentence |
| `voices` | each speaker's voice id and gender |
| `duration`, `sample_rate` | seconds, Hz |
| `key_detail` | `kind`, `answer` as said, `depth` (key decile), `confusers`, `facts` (sheet) |
| `checks` | each validation check: `name`, `ok`, `reason` |
| `difficulty` | baseline tags (`hard`, `too_easy`, `details` JSON), null when untagged |
| `provenance` | JSON: pipeline version, run and item seeds, seed history, backends |

`audio_data.combined.prompts_used` has one field per speaker id seen in the run, null where
an item has fewer speakers."""


def build_card(inp: CardInputs) -> str:
    _, audio_note = audio_licence(inp.manifest["config"]["tts"])
    hard = any(s.name == "hard" for s in inp.subsets)
    load = ["```python", "from datasets import load_dataset", "",
            'ds = load_dataset("<org>/<name>", split="test")           # config "default"']
    if hard:
        load.append('hard = load_dataset("<org>/<name>", "hard", split="test")')
    load += ['stream = load_dataset("<org>/<name>", split="test", streaming=True)',
             'row = ds[0]; row["audio"]  # decoded audio, no other file needed', "```"]
    spiral = ""
    if inp.spiral_files:
        spiral = ("\n\nFor evaluation code written for the original SPIRAL release, `spiral/` "
                  "holds the same items in its format: `data.jsonl`"
                  + (", `data_h.jsonl` (hard subset)" if inp.tagged else "")
                  + ", `wavs/` and `key_wavs/` (24 kHz wav, named as the records say; the "
                  "records' `audio_folder` and `audio_dir` are relative to `spiral/`).")
    sections = [
        f"# {inp.publish.pretty_name}",
        "A synthetic benchmark for long-context speech language models in the style of SPIRAL "
        "(from the SpeechPrune paper, [arXiv 2412.12009](https://arxiv.org/abs/2412.12009)). "
        "Each item is about 90 seconds of spoken lecture, conversation or meeting that hides one "
        "key sentence with a critical detail (a number, date, name, place, amount...). A "
        "four-choice question (A-D) asks for that detail, so a model must find one sentence "
        "in a long recording: it measures speech information retrieval over long audio, not "
        "general comprehension. Answer letters, key-sentence depth, transcript type and "
        "speaker gender are balanced by construction, and distractors are checked not to be "
        "said in the audio.",
        "## Contents\n\n" + _contents(inp),
        "## Loading\n\n" + "\n".join(load) + spiral,
        "## Fields\n\n" + FIELDS,
        "## How it was generated\n\n" + _generation(inp),
        "## Difficulty\n\n" + _difficulty(inp),
        "## Statistics (audit)\n\n" + _audit_section(inp),
        "## Licence\n\n" + _licence_text(inp) + "\n\n" + audio_note,
        "## Citation\n\nThis dataset follows the design of SPIRAL; please cite it:\n\n"
        "```bibtex\n" + SPIRAL_CITATION + "\n```",
    ]
    return "---\n" + front_matter(inp) + "\n---\n\n" + "\n\n".join(sections) + "\n"


def _licence_text(inp: CardInputs) -> str:
    override, _ = audio_licence(inp.manifest["config"]["tts"])
    if override:
        return (f"Licence: `{override['license_name']}` ({override['license_link']}), set by "
                "the speech model; the transcripts and questions are synthetic.")
    return (f"Licence: `{inp.publish.license}` for the transcripts, questions and audio, all "
            "machine-generated.")
