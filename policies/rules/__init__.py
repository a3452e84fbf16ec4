"""Deplight's deployment-safety rules, one module per concern.

Each rule is a pure function over a resource's properties as the engine presents them (camelCase
provider names, numbers as floats, policy documents as JSON strings or objects), wrapped in a
``pulumi_policy`` policy in :mod:`policies.rules.pack`. Constructing the ``PolicyPack`` starts the
analyzer server, so only ``policies/__main__.py`` does that.
"""
