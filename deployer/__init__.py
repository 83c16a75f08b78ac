"""deployer: roll Docker images out to fleets of servers over SSH."""

__version__ = "0.1.0"
