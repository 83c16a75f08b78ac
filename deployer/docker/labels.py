"""The labels deployer puts on containers: one neutral constants module."""

from deployer.model import PROXY_NETWORK

LABEL_MANAGED = "deployer.managed"
LABEL_NAME = "deployer.name"
LABEL_SPEC_HASH = "deployer.spec-hash"
LABEL_SPEC = "deployer.spec"
LABEL_IMAGE = "deployer.image"
LABEL_DEPLOYED_AT = "deployer.deployed-at"
LABEL_DEPLOYED_BY = "deployer.deployed-by"
LABEL_ATTEMPT = "deployer.attempt"  # which run's attempt started this container (not a secret)

NETWORK = PROXY_NETWORK  # the network proxied containers share with the host's proxy
