"""The lab's daemons: an sshd and a Docker engine per host, two registries."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import shlex
import socket
from pathlib import Path

from deployer.lab.layout import PASSWORD_USER, REGISTRY_USER, LabHost, Layout
from deployer.lab.system import in_netns, kill_trees, run, spawn, wait_for
from deployer.lab.users import FILES, state_dir_group
from deployer.lab.users import write_private as _write_private

# Each lab host has its own /tmp and its own deployer state folder, as a real
# server would: sshd runs in a private mount namespace with these bound.
PRIVATE_MOUNTS = ("/tmp", "/var/lib/deployer")


def make_client_key(layout: Layout) -> None:
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"deployer-lab-{layout.name}",
            "-f",
            str(layout.key_file),
        ]
    )
    (layout.dir / "authorized_keys").write_text(Path(f"{layout.key_file}.pub").read_text())


def sshd_config(layout: Layout, host: LabHost) -> str:
    lines = [
        "Port 22",
        f"ListenAddress {host.address}",
        f"HostKey {host.data_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host.run_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {layout.dir / 'authorized_keys'}",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "AllowTcpForwarding yes",
        "MaxSessions 200",
        "MaxStartups 200:30:400",
        "ClientAliveInterval 30",
        "Subsystem sftp internal-sftp",
    ]
    if host.has_engine or host.shared_engine:
        lines.append(f"SetEnv DOCKER_HOST={host.shared_engine or host.docker_host}")
    lines += [
        f"Match User {PASSWORD_USER}",
        "    PasswordAuthentication yes",
        "    PermitRootLogin yes",
    ]
    return "\n".join(lines) + "\n"


def start_sshd(layout: Layout, host: LabHost) -> int:
    host.data_dir.mkdir(parents=True, exist_ok=True)
    host.run_dir.mkdir(parents=True, exist_ok=True)  # sshd writes its pid file there at once
    key = host.data_dir / "ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key)])
    (host.data_dir / "sshd_config").write_text(sshd_config(layout, host))
    return launch_sshd(host, layout.auth_dir)


def hidden_by_private_mounts(path: Path) -> list[str]:
    """The private folders of a host (its own /tmp...) that would hide PATH from its sshd."""
    return [t for t in PRIVATE_MOUNTS if path == Path(t) or Path(t) in path.parents]


def empty_bashrc(layout: Layout) -> None:
    """The lab hosts' root gets an empty ~/.bashrc, as a fresh server's does in effect
    (Debian's is all comments): this machine's runs `pyenv init` (0.16 s, and a rehash
    lock at 100 logins at once) for every command sshd starts through root's bash, which
    a server would not, and which every tool measured in bench/ paid per command."""
    (layout.auth_dir / "bashrc").write_text("")


def mount_script(host: LabHost, auth_dir: Path) -> list[str]:
    """The mounts of a host's sshd, in its own mount namespace. The lab's folder is
    `auth_dir`'s parent; when a private folder would hide it (a lab under /tmp), a bind of
    it is kept first (in the host's run folder, never private), the private folders are
    bound from there, and then the lab's folder is bound back at its own path."""
    lab_dir = auth_dir.parent
    base, steps = lab_dir, []
    if hidden_by_private_mounts(lab_dir):
        base = host.run_dir / "lab"
        base.mkdir(parents=True, exist_ok=True)
        steps.append(f"mount --bind {shlex.quote(str(lab_dir))} {shlex.quote(str(base))}")

    def src(path: Path) -> str:
        return shlex.quote(str(base / path.relative_to(lab_dir)))

    steps += [f"mount --bind {src(auth_dir / name)} /etc/{name}" for name in FILES]
    if (auth_dir / "bashrc").exists() and Path("/root/.bashrc").exists():
        # a lab host's root gets an empty ~/.bashrc (see empty_bashrc)
        steps.append(f"mount --bind {src(auth_dir / 'bashrc')} /root/.bashrc")
    for target in PRIVATE_MOUNTS:
        own = host.data_dir / "fs" / target.strip("/").replace("/", "_")
        own.mkdir(parents=True, exist_ok=True)
        if target == "/tmp":
            os.chmod(own, 0o1777)
        else:  # the state folder as docs/playbook.md has an admin make it for the docker group
            os.chown(own, 0, state_dir_group())
            os.chmod(own, 0o2775)
        Path(target).mkdir(parents=True, exist_ok=True)
        steps.append(f"mount --bind {src(own)} {target}")
    if base != lab_dir:
        where = shlex.quote(str(lab_dir))
        steps.append(f"mkdir -p {where} && mount --bind {shlex.quote(str(base))} {where}")
    return steps


def launch_sshd(host: LabHost, auth_dir: Path) -> int:
    """Start (or start again) a host's sshd with the key and config it already has."""
    cfg = host.data_dir / "sshd_config"
    binds = mount_script(host, auth_dir)
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd = ["/usr/sbin/sshd", "-D", "-f", str(cfg), "-E", str(host.data_dir / "sshd.log")]
    script = " && ".join([*binds, f"hostname {host.name}", "exec " + shlex.join(sshd)])
    argv = in_netns(
        host.netns, ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script]
    )
    return spawn(argv, host.data_dir / "sshd.out")


def host_key_line(host: LabHost) -> str:
    pub = (host.data_dir / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{host.address} {pub[0]} {pub[1]}"


def start_dockerd(layout: Layout, host: LabHost) -> int:
    host.run_dir.mkdir(parents=True, exist_ok=True)
    argv = in_netns(
        host.netns,
        [
            "dockerd",
            "--data-root",
            str(host.data_dir / "docker"),
            "--exec-root",
            str(host.run_dir / "exec"),
            "-H",
            host.docker_host,
            "--pidfile",
            str(host.run_dir / "docker.pid"),
            "--insecure-registry",
            layout.registry,
            "--insecure-registry",  # the lab pushes the hub's images by its address
            layout.registry_hub,
            "--registry-mirror",  # Docker Hub names come from the lab's hub
            layout.hub_mirror,
            "--containerd-namespace",
            "moby",
            "--log-level",
            "warn",
        ],
    )
    return spawn(argv, host.data_dir / "dockerd.log")


def engine_ready(host: LabHost) -> bool:
    if not host.docker_sock.exists():
        return False
    proc = run(
        ["docker", "-H", host.docker_host, "version", "--format", "{{.Server.Version}}"],
        check=False,
        timeout=10,
    )
    return proc.returncode == 0


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _write_tls(layout: Layout, folder: Path) -> None:
    """A lab CA and a server certificate for the gateway IP, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"deployer lab {layout.name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    ip = ipaddress.ip_address(layout.gateway)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, layout.gateway)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    (folder / "server.crt").write_bytes(cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    os.chmod(folder / "server.key", 0o600)


def registry_yaml(root: Path, addr: str, *, tls: Path | None = None, readonly: bool = False) -> str:
    """A Distribution registry's configuration: storage under `root`, listening on `addr`;
    with `tls` (a folder with server.crt, server.key and htpasswd) HTTPS and a password;
    `readonly` refuses every push (pulls only, as from a mirror)."""
    maintenance = "  maintenance: {readonly: {enabled: true}}\n" if readonly else ""
    text = (
        f"version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {root}}}\n"
        f"  delete: {{enabled: true}}\n{maintenance}http:\n  addr: {addr}\n"
    )
    if tls is not None:
        text += (
            f"  tls:\n    certificate: {tls / 'server.crt'}\n    key: {tls / 'server.key'}\n"
            f"auth:\n  htpasswd:\n    realm: deployer-lab\n    path: {tls / 'htpasswd'}\n"
        )
    return text


def start_registries(layout: Layout) -> dict[str, int]:
    """The plain and the TLS registry, and the hub (Docker Hub's stand-in, writable until
    it is seeded: see start_hub). {kind: pid}"""
    import bcrypt

    folder = layout.dir / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    _write_private(layout.password_file, password + "\n")
    # The registry checks the password on every request (a push is dozens): bcrypt's least
    # cost keeps that at a millisecond; the password itself is random (144 bits).
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (folder / "htpasswd").write_text(f"{REGISTRY_USER}:{hashed}\n")
    _write_tls(layout, folder)
    layout.certs_d.mkdir(parents=True, exist_ok=True)
    (layout.certs_d / "ca.crt").write_bytes((folder / "ca.crt").read_bytes())
    configs = {
        "plain": registry_yaml(folder / "plain", layout.registry),
        "tls": registry_yaml(folder / "tls", layout.registry_tls, tls=folder),
        "hub": registry_yaml(folder / "hub", layout.registry_hub),
    }
    pids = {kind: _spawn_registry(folder, kind, cfg) for kind, cfg in configs.items()}
    for kind in configs:
        _wait_registry(layout, kind)
    return pids


def start_hub(layout: Layout, seeded_pid: int) -> int:
    """Start the hub again read-only once it is seeded: like Docker Hub, what a name
    means changes under nobody's feet (a push to it is refused). Returns its new pid."""
    kill_trees({seeded_pid})
    folder = layout.dir / "registry"
    cfg = registry_yaml(folder / "hub", layout.registry_hub, readonly=True)
    pid = _spawn_registry(folder, "hub", cfg)
    _wait_registry(layout, "hub")
    return pid


def _spawn_registry(folder: Path, kind: str, cfg: str) -> int:
    path = folder / f"{kind}.yml"
    path.write_text(cfg)
    return spawn(["docker-registry", "serve", str(path)], folder / f"{kind}.log")


def _wait_registry(layout: Layout, kind: str) -> None:
    addr = {"plain": layout.registry, "tls": layout.registry_tls, "hub": layout.registry_hub}
    host, port = addr[kind].rsplit(":", 1)
    wait_for(
        lambda: port_open(host, int(port)),
        f"registry ({kind})",
        log=layout.dir / "registry" / f"{kind}.log",
    )
