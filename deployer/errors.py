"""One exception hierarchy. The CLI maps each kind to an exit code."""

from __future__ import annotations

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected or environment problem (lab prerequisites, ...)
EXIT_NOT_CONFIRMED = 2  # a removal needed a confirmation: refused or answered no (nothing changed)
EXIT_FAILED = 3  # a host failed (deploy) / a host degraded or unhealthy (health)
EXIT_UNREACHABLE = 4  # only unreachable hosts
EXIT_INVALID = 5  # invalid input: inventory, playbook, options
EXIT_LOCKED = 6  # a lock is held by another run
EXIT_BUILD = 7  # an image could not be built or pushed: nothing was deployed
EXIT_INTERRUPTED = 130


class DeployerError(Exception):
    """Base of every error deployer raises on purpose."""

    exit_code = EXIT_ERROR


class EnvironmentProblem(DeployerError):
    """The machine lacks something (root, a package, Linux)."""

    exit_code = EXIT_ERROR


class LabError(DeployerError):
    exit_code = EXIT_ERROR


class ConfigError(DeployerError):
    """Invalid input. Carries every problem found, each with file:line:col and key path."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class BuildError(DeployerError):
    """An image could not be tagged, built or pushed (deployer build, deploy --build)."""

    exit_code = EXIT_BUILD


class RemoteError(DeployerError):
    """A host could not be reached or a remote command failed."""

    exit_code = EXIT_FAILED


class Unreachable(RemoteError):
    """A host could not be reached (or the connection was lost)."""

    exit_code = EXIT_UNREACHABLE


class HostKeyError(RemoteError):
    exit_code = EXIT_UNREACHABLE
