"""Deplight: one containerized HTTP service on ECS Fargate, one stack per environment.

This file only composes: typed settings in, components in dependency order, outputs out.
"""

import pulumi

from components import outputs as keys
from components.network import Network, NetworkArgs
from components.settings import SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as exc:
    # RunError prints the message without a Python traceback: the list is the whole story.
    raise pulumi.RunError(str(exc)) from None

network = Network(
    settings.prefix,
    NetworkArgs(
        prefix=settings.prefix,
        network=settings.network,
        container_port=settings.service.container_port,
        test_port=settings.ingress.test_port,
        test_cidrs=settings.ingress.test_cidrs,
    ),
)

pulumi.export(keys.VPC_ID, network.vpc_id)
pulumi.export(keys.PUBLIC_SUBNET_IDS, network.public_subnet_ids)
pulumi.export(keys.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
pulumi.export(keys.IMAGE_TAG, settings.image_tag)
pulumi.export(keys.SCHEMA_VERSION, settings.schema_version)
