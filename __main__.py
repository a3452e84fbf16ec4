"""Deplight: one containerized HTTP service on ECS Fargate, one stack per environment."""

from deplight.program import run

run()
