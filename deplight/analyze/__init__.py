"""``deplight analyze``: what a service checkout needs to run on Deplight.

:mod:`~deplight.analyze.rules` (one module per language) read the checkout through a recording
:class:`~deplight.analyze.workspace.Workspace`; :mod:`~deplight.analyze.engine` caches the
:class:`~deplight.analyze.report.Report` by the hash of what was read and optionally asks Bedrock
(:mod:`~deplight.analyze.model`) about what the rules left undecided;
:mod:`~deplight.analyze.dockerfile` and :mod:`~deplight.analyze.stack` turn the report into a
Dockerfile and stack settings; :mod:`~deplight.analyze.command` is the CLI.
"""
