"""What a config history row records about the request a change came from."""

import ipaddress

from accounts.services import client_ip, client_user_agent


def request_meta(request) -> dict:
    """``{"ip", "user_agent"}`` for a service's history row.

    The address is the peer's (``accounts.services.client_ip``): X-Forwarded-For
    is whatever the client wrote. One that is not an IP address is recorded as
    none, since the column (inet on PostgreSQL) would refuse it.
    """
    ip = client_ip(request)
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
    return {"ip": ip, "user_agent": client_user_agent(request)}
