"""How to reach a host: Ansible's connection variables mapped to `HostConn`."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from deployer.model import Become, HostConn, ProxyHost, Secret
from deployer.source.problems import Mark, Problems
from deployer.template.render import Renderer, TemplateError, has_template

# The connection variables that hold a password: `hosts --host` masks them, and the
# playbook keeps them out of every template.
PASSWORD_VARS = frozenset(
    {
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_become_password",
        "ansible_become_pass",
        "deployer_notify",  # notification URLs hold tokens: masked, and kept out of templates
    }
)


class Inventory(Protocol):
    """What a host's connection needs of the inventory (inventory.load.Inventory is one;
    named here, not imported, so that load -> conn stays the only direction)."""

    def host_vars(self, name: str) -> dict[str, Any]: ...

    def host_source(self, name: str) -> str: ...

    def var_origin(self, name: str, var: str) -> tuple[str, Mark]: ...


_ZONE = re.compile(r"^[A-Za-z0-9_.-]+$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")
TRUE = ("true", "yes", "on", "1", "y", "t")
FALSE = ("false", "no", "off", "0", "n", "f")
BECOME_METHODS = ("sudo",)

_JUMP = re.compile(
    r"^(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*@)?(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])(?::(\d+))?$"
)


def is_address(text: str) -> bool:
    """A host name (labels of letters, digits, '-' and '_', not starting with '-'; a trailing
    dot; international letters too) or an IP address (IPv6 unbracketed, with a %zone).
    The address becomes %h of an ssh ProxyCommand and a known_hosts key: a space or a
    leading '-' would be an option of that command."""
    if not text or len(text) > 254 or text.startswith("-"):
        return False
    ip, zoned, zone = text.partition("%")
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        pass
    else:
        return not zoned or (parsed.version == 6 and _ZONE.match(zone) is not None)
    labels = text.removesuffix(".").split(".")
    if all(label.isdigit() for label in labels):
        return False  # 1.2.3.4.5 or 10.1: no IPv4 address, and no host name either
    return all(
        0 < len(label) <= 63
        and not label.startswith("-")
        and all(c.isalnum() or c in "-_" for c in label)
        for label in labels
    )


class _ConnBuilder:
    def __init__(
        self, inv: Inventory, name: str, problems: Problems, extra: Mapping[str, Any]
    ) -> None:
        self.inv, self.name, self.problems = inv, name, problems
        self.extra = extra
        self.vars = {**inv.host_vars(name), **extra}
        self.renderer = Renderer({**self.vars, "inventory_hostname": name})
        self.basedir = os.path.dirname(os.path.abspath(inv.host_source(name) or "."))

    def problem(self, var: str, message: str) -> None:
        if var in self.extra:
            self.problems.add(f"-e {var}", None, (var,), message, host=self.name)
            return
        file, mark = self.inv.var_origin(self.name, var)
        self.problems.add(file, mark, (var,), message, host=self.name)

    def flag(self, var: str) -> bool | None:
        """An Ansible boolean (true/yes/on/1, false/no/off/0, any case); None when unset."""
        value = self.get(var)
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        self.problem(var, f"must be true or false, got {value!r}")
        return None

    def get(self, var: str) -> Any:
        value = self.vars.get(var)
        if has_template(value):
            try:
                value = self.renderer.render(value)
            except TemplateError as err:
                self.problem(var, str(err))
                return None
        return value

    def text(self, var: str) -> str | None:
        value = self.get(var)
        if value is None:
            return None
        if isinstance(value, dict | list | bool):
            self.problem(var, f"must be a string, not {type(value).__name__}")
            return None
        text = str(value)
        if not text.strip() or any(c in text for c in "\n\r\0"):
            self.problem(var, "must be a non-empty single line")
            return None
        return text

    def path(self, var: str) -> str | None:
        text = self.text(var)
        if text is None:
            return None
        text = os.path.expanduser(text)
        return text if os.path.isabs(text) else os.path.normpath(os.path.join(self.basedir, text))

    def port(self, var: str = "ansible_port", default: int = 22) -> int:
        value = self.get(var)
        if value is None:
            return default
        try:
            port = int(str(value).strip()) if not isinstance(value, bool) else -1
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            self.problem(var, f"must be a port number 1-65535, got {value!r}")
            return default
        return port

    def proxy(self) -> ProxyHost:
        """deployer_proxy_*: the image, the public ports and the TLS files of the host's proxy."""
        image = self.text("deployer_proxy_image") or ProxyHost.image
        if any(c.isspace() for c in image) or image.startswith("-"):
            self.problem("deployer_proxy_image", f"must be an image reference, got {image!r}")
            image = ProxyHost.image
        http = self.port("deployer_proxy_http_port", ProxyHost.http_port)
        https = self.port("deployer_proxy_https_port", ProxyHost.https_port)
        cert, key = self.path("deployer_proxy_tls_cert"), self.path("deployer_proxy_tls_key")
        if http == https and (cert or key):
            self.problem("deployer_proxy_https_port", f"must differ from the HTTP port {http}")
        for var, path in (("deployer_proxy_tls_cert", cert), ("deployer_proxy_tls_key", key)):
            if path is not None and not os.path.isfile(path):
                self.problem(var, f"no such file on the controller: {path}")
        if (cert is None) != (key is None):
            var = "deployer_proxy_tls_cert" if key is None else "deployer_proxy_tls_key"
            self.problem(
                var, "needs its pair: set deployer_proxy_tls_cert and deployer_proxy_tls_key"
            )
            cert = key = None
        return ProxyHost(image, http, https, cert, key)

    def jump(self) -> str | None:
        """deployer_ssh_jump; without it None (the SSH room reads a ProxyJump from
        ~/.ssh/config when it connects: paramiko stays out of the inventory)."""
        jump = self.text("deployer_ssh_jump")
        if jump is None:
            return None
        if not _JUMP.match(jump):
            self.problem(
                "deployer_ssh_jump", f"must look like user@host or user@host:port, got {jump!r}"
            )
            return None
        return jump

    def known_hosts(self) -> tuple[str, ...]:
        value = self.get("deployer_known_hosts")
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            text = os.path.expanduser(str(item))
            out.append(
                text if os.path.isabs(text) else os.path.normpath(os.path.join(self.basedir, text))
            )
        return tuple(out)

    def password(self) -> Secret | None:
        """ansible_password, or better deployer_ssh_password_env: the name of a controller
        environment variable holding it (kept out of inventory files)."""
        return self.secret("deployer_ssh_password_env", ("ansible_password",))

    def secret(self, env_var: str, plain: tuple[str, ...]) -> Secret | None:
        """ENV_VAR names a controller environment variable holding the secret (kept out of
        inventory files); else the first of PLAIN set in the inventory."""
        env = self.text(env_var)
        if env is not None:
            if env not in os.environ:
                self.problem(env_var, f"environment variable {env} is not set on the controller")
                return None
            return Secret(f"env:{env}", os.environ[env])
        for var in plain:
            value = self.get(var)
            if value is not None:
                secret = Secret(f"inventory:{var}", str(value))
                self.vars[var] = secret  # keep it out of every repr of the vars
                return secret
        return None

    def become(self, default: bool) -> Become | None:
        """ansible_become (else the play's `become:`), _method, _user and the password:
        deployer_become_password_env, ansible_become_password or ansible_become_pass."""
        on = self.flag("ansible_become")
        method = (self.text("ansible_become_method") or "sudo").strip()
        if method not in BECOME_METHODS:
            self.problem(
                "ansible_become_method",
                f"{method!r} is not supported: use sudo (su asks its password on a terminal)",
            )
        user = self.text("ansible_become_user") or "root"
        if not _USER.match(user):
            self.problem("ansible_become_user", f"must be a user name, got {user!r}")
            user = "root"
        if not (default if on is None else on):
            return None
        password = self.secret(
            "deployer_become_password_env", ("ansible_become_password", "ansible_become_pass")
        )
        if password is not None and any(c in password.reveal() for c in "\n\r\0"):
            self.problem("ansible_become_password", "must be a single line")
            password = None
        return Become(user=user, method=method, password=password)

    def engine_api(self) -> Literal["auto", "off"]:
        """deployer_engine_api: auto (the default) or off; a boolean false is off too."""
        value = self.get("deployer_engine_api")
        if value is None:
            return "auto"
        text = str(value).strip().lower()
        if value is False or text in FALSE:
            return "off"
        if text == "auto":
            return "auto"
        self.problem("deployer_engine_api", f"must be auto or off, got {value!r}")
        return "auto"

    def address(self) -> str:
        """ansible_host, or the inventory name when it is not set: a host name or an IP."""
        given = self.text("ansible_host")
        address = given or self.name
        if not is_address(address):
            said = "" if given else " (the inventory name, as ansible_host is not set)"
            self.problem(
                "ansible_host",
                f"must be a host name or an IP address, got {address!r}{said}",
            )
        return address

    def build(self, become: bool = False) -> HostConn:
        address = self.address()
        state_dir = self.text("deployer_state_dir") or "/var/lib/deployer"
        if not state_dir.startswith("/"):
            self.problem("deployer_state_dir", f"must be an absolute path, got {state_dir!r}")
        return HostConn(
            name=self.name,
            address=address,
            port=self.port(),
            user=self.text("ansible_user") or "root",
            key_file=self.path("ansible_ssh_private_key_file"),
            password=self.password(),
            jump=self.jump(),
            known_hosts=self.known_hosts(),
            state_dir=state_dir,
            proxy=self.proxy(),
            vars=self.vars,
            become=self.become(become),
            engine_api=self.engine_api(),
        )


def host_conn(
    inv: Inventory,
    name: str,
    problems: Problems | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
    become: bool = False,
) -> HostConn:
    """HostConn for NAME; problems go to PROBLEMS, or raise ConfigError when none is given.

    extra: -e variables, over the inventory's (as in Ansible: `-e ansible_user=deploy`);
    become: the play's `become:`, for hosts whose ansible_become does not say.
    """
    own = problems is None
    collect = Problems() if problems is None else problems
    conn = _ConnBuilder(inv, name, collect, extra or {}).build(become)
    if own:
        collect.raise_if_any()
    return conn
