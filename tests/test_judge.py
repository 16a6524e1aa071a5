"""The answerability gates with the offline MiniLM solver and with an LLM-style `ask`."""

from __future__ import annotations

import pytest

from pipeline.validation.judge import (
    JudgeError,
    LLMSolver,
    binomial_tail,
    judge_checks,
    judge_question,
    solver_for,
)

STEM = "Who led the study of the glaciers at the Fenwick Institute?"
NAMES = ["Petra Oakhurst", "Magnus Fenwick", "Ivo Galloway", "Nadia Crowther"]


@pytest.fixture(scope="module")
def solver():  # noqa: ANN201
    return solver_for("offline", 0.05)


def test_binomial_tail() -> None:
    assert binomial_tail(0, 4) == pytest.approx(1.0)
    assert binomial_tail(4, 4) == pytest.approx(0.25**4)
    assert binomial_tail(3, 4) == pytest.approx(4 * 0.25**3 * 0.75 + 0.25**4)


def test_sound_question_passes_both_gates(solver) -> None:  # noqa: ANN001
    choices = ["412", "421", "142", "214"]
    stem = "How many samples did the Pendleton Trust record?"
    result = judge_question(solver, stem, choices, 0,
                            "The Pendleton Trust recorded 412 samples last year.", 4)
    assert result.informed == 0
    assert result.blind_right == 1  # no lead: it guesses the first shown, right once in 4
    assert all(c.ok for c in judge_checks(result, 0, 0.05))


def test_stem_that_names_the_answer_leaks(solver) -> None:  # noqa: ANN001
    result = judge_question(solver, STEM, NAMES, 1,
                            "The study at the Fenwick Institute was led by Magnus Fenwick.", 4)
    informed, blind = judge_checks(result, 1, 0.05)
    assert informed.ok
    assert not blind.ok and blind.reason.startswith("leak: blind judge right in 4 of 4")


def test_key_sentence_with_two_choices_is_ambiguous(solver) -> None:  # noqa: ANN001
    evidence = "The study was led by Petra Oakhurst and Ivo Galloway together."
    result = judge_question(solver, "Who led the study?", NAMES, 0, evidence, 4)
    informed, _ = judge_checks(result, 0, 0.05)
    assert result.informed is None and not informed.ok
    assert informed.reason.startswith("ambiguous")


def test_the_one_choice_the_key_says_word_for_word_is_found(solver) -> None:  # noqa: ANN001
    """Near values ("7.6" / "7.7 million") look alike to an embedding; the key sentence says
    one of them, as written or as heard ("seven point six million")."""
    choices = ["1.9 million dollars", "7.6 million dollars", "4.5 million dollars",
               "7.7 million dollars"]
    stem = "How much did the Mallory Institute spend on computer time?"
    for key in ("The Mallory Institute spent 7.6 million dollars on computer time.",
                "the mallory institute spent seven point six million dollars on computer time"):
        result = judge_question(solver, stem, choices, 1, key, 4)
        assert result.informed == 1, key
    both = "It spent 7.6 million dollars, not 7.7 million dollars as planned."
    assert judge_question(solver, stem, choices, 1, both, 4).informed != 1


def test_llm_backend_asks_the_judge_task_and_reads_its_letter() -> None:
    calls = []

    def ask(task: str, variables: dict) -> dict:
        calls.append((task, variables))
        if variables["mode"] == "informed":
            return {"answer": "B"}
        return {"answer": "A"}  # blind: always the first letter shown

    result = judge_question(LLMSolver(ask), STEM, NAMES, 1, "Led by Magnus Fenwick.", 4)
    assert result.informed == 1 and result.blind_right == 1
    assert len(calls) == 5 and all(task == "judge" for task, _ in calls)
    assert calls[0][1]["evidence"] == "Led by Magnus Fenwick."
    assert calls[1][1]["choices"].splitlines()[0] == "A. Petra Oakhurst"
    assert calls[2][1]["choices"].splitlines()[0] == "A. Magnus Fenwick"
    assert LLMSolver(lambda t, v: {"answer": "none"}).pick(STEM, NAMES, None) is None


def test_llm_backend_without_a_client_is_a_clear_error() -> None:
    with pytest.raises(JudgeError, match="needs an LLM client"):
        solver_for("llm", 0.05)
    with pytest.raises(JudgeError, match="unknown judge backend"):
        solver_for("gpt", 0.05)


def test_embedding_memo_keeps_what_a_call_needs_when_it_drops_the_older_half() -> None:
    from pipeline.validation.judge import MiniLMSolver

    small = MiniLMSolver(0.05)
    small.memo_max = 6
    first = small.embed(NAMES)  # four entries, then a call that needs an old one and brings
    again = small.embed([NAMES[0], "a", "b", "c"])  # three new: past the bound, mid-call
    assert again[0] == pytest.approx(first[0], abs=1e-6)
    assert len(small._memo) <= small.memo_max
    assert small.embed(NAMES)[1] == pytest.approx(first[1], abs=1e-6)  # dropped: embedded again
