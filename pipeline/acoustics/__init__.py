"""Acoustic conditions at set levels: noise, reverberation, overlap, telephone band.

Signal processing only, over numpy arrays (FFT convolution and vectorised filters, never a
Python loop over samples). The stage that calls it (stages/synthesize.py) supplies the
rendered track, its sentence times and, for babble, a way to say sentences; every draw comes
from the item's own random stream, so a run with the conditions off is untouched.
"""
