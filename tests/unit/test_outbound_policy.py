"""The one target policy of outbound HTTP on a tenant's behalf (webhook subscriptions and
automation webhook actions), on a table of addresses: IPv4, IPv6, the IPv6 forms that embed an
IPv4 address (mapped, NAT64, 6to4, Teredo), numeric host forms (decimal, octal, hex), DNS
names resolving to each class through an injected resolver; the relaxation of a local cloud
(never for link-local or metadata) and the settings that refuse it outside the local stage."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from crm.adapters.webhooks.signed import HostsFileResolver
from crm.domain.webhooks import (
    TargetPolicy,
    address_class,
    address_problems,
    normalise_host,
    parse_target,
)
from crm.services.automation_webhooks import target_problems
from crm.settings import SettingsError, WebhookTargetSettings

STRICT = TargetPolicy()
HOSTS_FILE = "/nonexistent/webhook-hosts"
RELAXED = TargetPolicy(allow_http=True, allow_private=True)


def mapped(v4: str) -> str:
    return f"::ffff:{v4}"


def nat64(v4: str) -> str:
    return str(ipaddress.IPv6Address(b"\x00\x64\xff\x9b" + bytes(8) + _packed(v4)))


def nat64_local(v4: str) -> str:
    """RFC 6052 with the /48 local-use prefix of RFC 8215: the address around the u octet."""
    raw = _packed(v4)
    return str(ipaddress.IPv6Address(b"\x00\x64\xff\x9b\x00\x01" + raw[:2] + b"\x00" + raw[2:] + bytes(5)))  # fmt: skip


def six_to_four(v4: str) -> str:
    return str(ipaddress.IPv6Address(b"\x20\x02" + _packed(v4) + bytes(10)))


def teredo(server: str, client: str) -> str:
    obfuscated = bytes(b ^ 0xFF for b in _packed(client))
    return str(ipaddress.IPv6Address(b"\x20\x01\x00\x00" + _packed(server) + bytes(4) + obfuscated))  # fmt: skip


def _packed(v4: str) -> bytes:
    return ipaddress.IPv4Address(v4).packed


ADDRESSES = [
    # IPv4
    ("93.184.216.34", "public"),
    ("8.8.8.8", "public"),
    ("127.0.0.1", "private"),
    ("127.255.255.254", "private"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private"),  # shared address space (CGNAT)
    ("0.0.0.0", "private"),
    ("192.0.2.1", "private"),  # documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("240.0.0.1", "private"),  # reserved
    ("169.254.169.254", "forbidden"),  # EC2 metadata
    ("169.254.170.2", "forbidden"),  # ECS task credentials
    ("169.254.0.1", "forbidden"),
    ("224.0.0.1", "forbidden"),
    ("255.255.255.255", "forbidden"),
    # IPv6
    ("2606:4700:4700::1111", "public"),
    ("::1", "private"),
    ("::", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("2001:db8::1", "private"),
    ("fe80::1", "forbidden"),
    ("fe80::1%eth0", "forbidden"),
    ("fd00:ec2::254", "forbidden"),  # EC2 metadata over IPv6
    ("ff02::1", "forbidden"),
    # IPv4-mapped, -translated, -compatible
    (mapped("8.8.8.8"), "public"),
    (mapped("127.0.0.1"), "private"),
    (mapped("10.0.0.1"), "private"),
    (mapped("169.254.169.254"), "forbidden"),
    ("::ffff:0:a9fe:a9fe", "forbidden"),
    ("::a9fe:a9fe", "forbidden"),
    # NAT64
    (nat64("8.8.8.8"), "public"),
    (nat64("127.0.0.1"), "private"),
    (nat64("169.254.169.254"), "forbidden"),
    (nat64_local("8.8.8.8"), "private"),  # a local translator is a private network's
    (nat64_local("169.254.169.254"), "forbidden"),
    # 6to4 and Teredo
    (six_to_four("8.8.8.8"), "public"),
    (six_to_four("127.0.0.1"), "private"),
    (six_to_four("169.254.169.254"), "forbidden"),
    (teredo("65.54.227.120", "8.8.8.8"), "private"),
    (teredo("65.54.227.120", "169.254.169.254"), "forbidden"),
    (teredo("169.254.169.254", "8.8.8.8"), "forbidden"),
]


@pytest.mark.parametrize(("address", "expected"), ADDRESSES)
def test_address_classes(address: str, expected: str) -> None:
    assert address_class(address) == expected


@pytest.mark.parametrize(("address", "expected"), ADDRESSES)
def test_strict_refuses_all_but_public_and_relaxed_still_refuses_forbidden(
    address: str, expected: str
) -> None:
    assert (address_problems([address], STRICT) == []) is (expected == "public")
    assert (address_problems([address], RELAXED) == []) is (expected != "forbidden")


@pytest.mark.parametrize(
    ("host", "normalised"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("hooks.example.com", "hooks.example.com"),
        ("1e100.net", "1e100.net"),
        ("::1", "::1"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
    ],
)
def test_numeric_host_forms_are_normalised(host: str, normalised: str) -> None:
    assert normalise_host(host) == (normalised, None)


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x1g.1", "0x100.1.1.1", "example.123", "1..2"]
)
def test_malformed_numeric_hosts_are_refused(host: str) -> None:
    normalised, problem = normalise_host(host)
    assert normalised is None and problem is not None
    assert parse_target(f"https://{host}/", RELAXED)[0] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://10.0.0.1/",
    ],
)
def test_numeric_and_ipv6_forms_of_private_hosts_are_refused_strictly(url: str) -> None:
    https = url.replace("http://", "https://")
    assert target_problems(https, STRICT, _no_dns) != []
    assert target_problems(https, RELAXED, _no_dns) == []  # a local cloud's receivers


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://169.254.170.2/v2/credentials",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
    ],
)
def test_link_local_and_metadata_are_refused_even_when_relaxed(url: str) -> None:
    assert target_problems(url, RELAXED, _no_dns) != []
    assert target_problems(url.replace("http://", "https://"), STRICT, _no_dns) != []


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} is a literal: no lookup")


DNS = {
    "public.example": ["93.184.216.34"],
    "dual.example": ["93.184.216.34", "2606:4700:4700::1111"],
    "loopback.example": ["127.0.0.1"],
    "private.example": ["10.1.2.3"],
    "mixed.example": ["93.184.216.34", "10.1.2.3"],
    "v6private.example": ["fc00::5"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "v6metadata.example": ["fd00:ec2::254"],
    "nat64meta.example": [nat64("169.254.169.254")],
}


def resolve(host: str, port: int) -> list[str]:
    return DNS.get(host, [])


@pytest.mark.parametrize(
    ("host", "strict_ok", "relaxed_ok"),
    [
        ("public.example", True, True),
        ("dual.example", True, True),
        ("loopback.example", False, True),
        ("private.example", False, True),
        ("mixed.example", False, True),  # any refused address refuses the host
        ("v6private.example", False, True),
        ("mapped.example", False, True),
        ("metadata.example", False, False),
        ("v6metadata.example", False, False),
        ("nat64meta.example", False, False),
        ("unknown.example", False, False),
    ],
)
def test_dns_names_are_judged_by_every_address_they_resolve_to(
    host: str, strict_ok: bool, relaxed_ok: bool
) -> None:
    assert (target_problems(f"https://{host}/hook", STRICT, resolve) == []) is strict_ok
    assert (target_problems(f"http://{host}/hook", RELAXED, resolve) == []) is relaxed_ok


def test_messages_name_no_address() -> None:
    [message] = target_problems("https://private.example/", STRICT, resolve)
    assert "10.1.2.3" not in message and "private" in message
    [message] = target_problems("http://metadata.example/", RELAXED, resolve)
    assert "169.254" not in message


def test_http_is_refused_unless_relaxed() -> None:
    assert target_problems("http://public.example/", STRICT, resolve) == ["must be an https URL"]
    assert target_problems("http://public.example/", RELAXED, resolve) == []


def test_hosts_file_resolver_reads_the_file_at_every_lookup(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    resolver = HostsFileResolver(hosts, fallback=lambda host, port: ["203.0.113.9"])
    assert resolver("rebind.test", 443) == ["203.0.113.9"]  # no file: the fallback
    hosts.write_text("# test names\n127.0.0.1 rebind.test other.test\n")
    assert resolver("REBIND.test", 443) == ["127.0.0.1"]
    hosts.write_text("169.254.169.254 rebind.test\n::1 rebind.test # two\n")
    assert resolver("rebind.test", 443) == ["169.254.169.254", "::1"]
    assert resolver("unlisted.test", 443) == ["203.0.113.9"]


@pytest.mark.parametrize("stage", ["prod", "staging", "dev", None])
@pytest.mark.parametrize(
    "relaxation",
    [
        {"WEBHOOK_ALLOW_HTTP": "true"},
        {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"},
        {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_HOSTS_FILE": HOSTS_FILE},
    ],
)
def test_a_deployed_stage_refuses_to_start_with_a_relaxation(
    stage: str | None, relaxation: dict[str, str]
) -> None:
    environ = {"WEBHOOK_ENCRYPTION_SECRET_ARN": "arn:x", **relaxation}
    if stage is not None:
        environ["STAGE"] = stage
    with pytest.raises(SettingsError, match="refused in stage"):
        WebhookTargetSettings.from_env(environ)


def test_the_local_stage_may_relax_and_every_stage_may_run_strict() -> None:
    local = WebhookTargetSettings.from_env(
        {
            "WEBHOOK_ENCRYPTION_SECRET_ARN": "arn:x",
            "STAGE": "local",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_HOSTS_FILE": HOSTS_FILE,
        }
    )
    assert local.target_policy == RELAXED
    for stage in ("prod", "staging", "dev", "local"):
        strict = WebhookTargetSettings.from_env(
            {
                "WEBHOOK_ENCRYPTION_SECRET_ARN": "arn:x",
                "STAGE": stage,
                "WEBHOOK_ALLOW_HTTP": "false",
                "WEBHOOK_ALLOW_PRIVATE_TARGETS": "false",
            }
        )
        assert strict.target_policy == STRICT
    with pytest.raises(SettingsError, match="needs WEBHOOK_ALLOW_PRIVATE_TARGETS"):
        WebhookTargetSettings.from_env(
            {
                "WEBHOOK_ENCRYPTION_SECRET_ARN": "arn:x",
                "STAGE": "local",
                "WEBHOOK_HOSTS_FILE": HOSTS_FILE,
            }
        )
