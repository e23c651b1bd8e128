"""Spec files in: the native format and the Sloth, OpenSLO and Pyrra readers, loaded and validated into
the model, with every error placed at its file:line:col.
"""
