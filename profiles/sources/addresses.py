"""The SSRF guard: which resolved addresses a source fetch may connect to.

A source URL is typed by an analyst, and a redirect is chosen by whoever runs the source's server:
either could point the fetcher at the newsroom's own network (a database on 10.0.0.5, the cloud's
metadata service at 169.254.169.254 that hands out credentials). So the guard judges the address the
fetch will actually connect to, never the host name, and refuses every address that is not plainly
on the public internet. IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, 6to4
`2002::/16`, NAT64 `64:ff9b::/96`) are judged by the IPv4 address inside them.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services (AWS, GCP, Azure, OpenStack on IPv4; AWS on IPv6): named first so the
#: refusal says what was being reached for. Both also lie in refused ranges below.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})

#: Carrier-grade NAT (RFC 6598): not "private" to Python, but never a public web server.
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries, if it is one of those forms."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: str | IPAddress) -> str:
    """Why the fetcher must not connect to `address` ("" when it may): one short reason."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip.version == 6 and ip.scope_id:
        return "a scoped (link-local) IPv6 address"
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = refusal(inner)
        return f"{reason} (inside the IPv6 address {ip})" if reason else ""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 4 and ip in SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "an address not reachable on the public internet"
    return ""
