"""Difficulty baseline: SpeechPrune and its comparison selectors over two model adapters."""
