"""Health of a fleet: facts and probes of each host -> HealthReport. Never prints."""

from deployer.health.gather import gather
from deployer.health.model import SCHEMA, ContainerHealth, Finding, HealthReport, HostHealth

__all__ = ["SCHEMA", "ContainerHealth", "Finding", "HealthReport", "HostHealth", "gather"]
