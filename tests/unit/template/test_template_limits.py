"""Templates are bounded in time, in output size and in integer size (issue 9, items 6-7)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.template.render import Renderer, TemplateError

BIG = 900_000_000  # the sizes of the issue: 0.9 GB strings if they were built


def render(source: str, **variables: object) -> object:
    return Renderer(variables).render(source)


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a second per render instead of 2 s, to keep the tests quick."""
    limits = sys.modules.get("deployer.template.limits")
    if limits is not None:
        monkeypatch.setattr(limits, "RENDER_SECONDS", 0.5)


@pytest.mark.timeout(30)
def test_catastrophic_regex_is_stopped_by_the_time_limit() -> None:
    previous = signal.getsignal(signal.SIGPROF)
    start = time.monotonic()
    with pytest.raises(TemplateError, match="took more than 2 s of CPU time"):
        render("{{ ('a'*40 ~ '!') | regex_search('(a+)+$') }}")
    assert time.monotonic() - start < 15
    assert signal.getsignal(signal.SIGPROF) is previous  # the handler is put back
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)  # and the timer stopped
    assert render("{{ 'v1.2.3' | regex_search('[0-9.]+') }}") == "1.2.3"  # still usable


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    ],
)
def test_a_loop_too_long_is_stopped_by_the_time_limit(source: str, short_budget: None) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateError, match="CPU time"):
        render(source)
    assert time.monotonic() - start < 15


@pytest.mark.timeout(30)
def test_a_template_that_ran_out_of_time_fails_at_once_for_the_next_host(
    short_budget: None,
) -> None:
    source = "{{ ('b'*38 ~ '!') | regex_search('(b+)+$') }}"
    with pytest.raises(TemplateError, match="CPU time"):
        Renderer({"h": 1}).render(source)
    start = time.monotonic()
    with pytest.raises(TemplateError, match="CPU time"):
        Renderer({"h": 2}).render(source)
    assert time.monotonic() - start < 0.5


def test_regex_filters_need_the_main_thread() -> None:
    """Another thread has no timer to stop `re`: the regex filters refuse to run there."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            render("{{ 'abc' | regex_replace('b', 'x') }}")
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], TemplateError)
    assert "main thread" in str(errors[0])
    assert render("{{ 'abc' | regex_replace('b', 'x') }}") == "axc"


@pytest.mark.parametrize(
    "source",
    [
        f"{{{{ 'x' | center({BIG}) }}}}",
        f"{{{{ '%{BIG}s' % 'a' }}}}",
        f"{{{{ '%*s' % ({BIG}, 'a') }}}}",
        f"{{{{ '%{BIG}s' | format('a') }}}}",
        f"{{{{ '{{:>{BIG}}}'.format('a') }}}}",
        f"{{{{ '{{:{{}}}}'.format('a', {BIG}) }}}}",
        f"{{{{ 'x'.ljust({BIG}) }}}}",
        f"{{{{ 'x'.rjust({BIG}) }}}}",
        f"{{{{ 'x'.center({BIG}) }}}}",
        f"{{{{ 'x'.zfill({BIG}) }}}}",
        f"{{{{ '\\t'.expandtabs({BIG}) }}}}",
        f"{{{{ 'x' * {BIG} }}}}",
        f"{{{{ ['x'] * {BIG} }}}}",
        f"{{{{ 'ab' | indent({BIG}) }}}}",
        f"{{{{ [1] | batch({BIG}, 'x') | list }}}}",
        f"{{{{ [1] | slice({BIG}) | list }}}}",
        f"{{{{ lipsum({BIG}) }}}}",
        "{{ ('x' * 1000).replace('', 'y' * 10000) }}",
        "{{ ('x' * 1000) | replace('x', 'y' * 10000) }}",
        "{{ ('x' * 100000) | wordwrap(1, wrapstring='y' * 100) }}",
        "{{ ('x' * 1000) | regex_replace('.', 'y' * 10000) }}",
        "{{ ('%(a)s%(a)s' * 1000) % {'a': 'x' * 1000} }}",
        "{{ ('{0}' * 1000).format('x' * 10000) }}",
        "{{ ('x' * 600000) + ('y' * 600000) }}",
        "{{ 'x'.join(['y' * 1000000] * 1000) }}",
        "{{ ['y' * 1000000] * 1000 }}",
        "{{ (['y' * 1000000] * 1000) | string }}",
        "{{ (['y' * 1000000] * 1000) | to_json }}",
        "{{ (['y' * 1000000] * 1000) | map('upper') | join }}",
        "{% set s = 'x' * 1000000 %}{% for i in range(1000) %}{{ s }}{% endfor %}",
        "{% set s = 'x' * 1000000 %}{% set b %}{% for i in range(1000) %}{{ s }}{% endfor %}"
        "{% endset %}{{ b | length }}",
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}"
        "{{ l | length }}",
        "{% set l = ['x' * 1000000] %}{% for i in range(1000) %}{% set _ = l.append(l[0]) %}"
        "{% endfor %}{{ l }}",
    ],
)
def test_output_size_is_capped_before_it_is_built(source: str) -> None:
    with pytest.raises(TemplateError, match="too large|more than 1,000,000 items"):
        render(source)


def test_a_large_variable_written_out_is_refused() -> None:
    """A YAML alias can repeat a long string many times for the cost of a few bytes."""
    shared = "x" * 100_000
    with pytest.raises(TemplateError, match="too large"):
        render("{{ many }}", many=[shared] * 100)
    with pytest.raises(TemplateError, match="too large"):
        render("items: {{ many }}", many=[shared] * 100)
    assert render("{{ many | length }}", many=[shared] * 100) == 100


def test_ordinary_templates_still_render() -> None:
    assert render("{{ '%05d' % 42 }}-{{ '{:>4}'.format('a') }}-{{ 'ab' | center(6) }}") == (
        "00042-   a-  ab  "
    )
    assert render("{{ [1, 2] | join(',') }} {{ 'a-b' | regex_replace('(-)', '<\\\\1>') }}") == (
        "1,2 a<->b"
    )
    assert render("{{ 2 ** 10 }}") == 1024 and render("{{ [1] + [2] }}") == [1, 2]
    assert render("{% set l = [] %}{% set _ = l.append(1) %}{{ l }}") == "[1]"
    assert render("{{ 'x' * 3 ~ 'y' }}") == "xxxy"
    assert render("{{ x | upper }}", x="a" * 999_000) == "A" * 999_000


@pytest.mark.parametrize(
    "source",
    [
        "{{ 10**999 * 10**999 * 10**999 * 10**999 * 10**999 }}",
        "n={{ 10**999 * 10**999 * 10**999 * 10**999 * 10**999 }}",
        "{{ (10**1000) ** 1000 }}",
        "{{ n + n }}",
        "{{ n * 10 }}",
        "{{ [n, n] | sum }}",
    ],
)
def test_an_integer_too_long_to_write_out_is_a_template_error(source: str) -> None:
    n = 10**4300 - 1  # 4,300 digits: the most Python writes out
    with pytest.raises(TemplateError, match="more than 4300 digits"):
        render(source, n=n)
    assert render("{{ n }}", n=n) == n


CliRun = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(tmp_path: Path) -> CliRun:
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n")

    def run(playbook: str, *args: str) -> tuple[int, str]:
        path = tmp_path / "play.yml"
        path.write_text(playbook)
        result = CliRunner().invoke(main, ["validate", str(path), "-i", str(inv), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        return result.exit_code, result.output.replace(str(tmp_path) + "/", "")

    return run


def test_a_long_integer_from_a_template_exits_5_with_its_line(cli: CliRun) -> None:
    code, out = cli(
        "- hosts: all\n  containers:\n    - name: web\n      image: nginx\n"
        '      stop_timeout: "{{ 10**999 * 10**999 * 10**999 * 10**999 * 10**999 }}"\n'
        '      env: {N: "{{ 10**999 * 10**999 * 10**999 * 10**999 * 10**999 }}"}\n'
    )
    assert code == 5, out
    assert "play.yml:5:21: plays[0].containers[0].stop_timeout: " in out
    assert "play.yml:6:16: plays[0].containers[0].env.N: " in out
    assert "more than 4300 digits" in out and "Traceback" not in out


@pytest.mark.timeout(30)
def test_a_slow_template_exits_5_with_its_line(cli: CliRun, short_budget: None) -> None:
    code, out = cli(
        "- hosts: all\n  containers:\n    - name: web\n      image: nginx\n"
        "      env:\n        X: \"{{ ('c'*40 ~ '!') | regex_search('(c+)+$') }}\"\n"
    )
    assert code == 5, out
    assert "play.yml:6:12: plays[0].containers[0].env.X: rendering took more than" in out
