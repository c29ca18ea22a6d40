"""The PowerDNS module against a real pdns_server (the `powerdns` fixture, tests/pdns.py): each action's effect is
read back through the API and, where a resolver would see it, through DNS over UDP."""

from __future__ import annotations

import itertools
import json
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioning.modules.base import (
    Action,
    ModuleContext,
    PermanentModuleError,
    ServerInfo,
    ServiceSnapshot,
    SettingsInvalid,
    TransientModuleError,
)
from provisioning.modules.powerdns import LIMIT_KIND, PowerDnsModule
from provisioning.modules.registry import module_for
from tests.pdns import RCODE_NOERROR, RCODE_REFUSED

pytestmark = pytest.mark.pdns

DEFAULT_RECORDS = "@ 3600 A 192.0.2.10\nwww 3600 CNAME @\n@ 3600 MX 10 mail.@\nmail 3600 A 192.0.2.25"
PRODUCT = {"default_records": DEFAULT_RECORDS, "record_limit": 50}
_ids = itertools.count(1000 + secrets.randbelow(10**6) * 1000)


def _service(domain: str | None = None) -> ServiceSnapshot:
    service_id = next(_ids)
    return ServiceSnapshot(
        service_id=service_id,
        client_id=1,
        product_name="DNS",
        domain=domain if domain is not None else f"shop{service_id}.test",
    )


def _server(powerdns, *, key: str | None = None, port: int | None = None, secure: bool = False) -> ServerInfo:
    return ServerInfo(
        id=1,
        name="dns1",
        hostname="127.0.0.1",
        port=port or powerdns.api_port,
        secure=secure,
        credentials={"api_token": key if key is not None else powerdns.api_key},
        settings={"nameservers": "ns1.example.net\nns2.example.net"},
    )


def _call(server, action, service=None, product=PRODUCT, **params):
    context = ModuleContext(
        action=action, service=service, server=server, product_settings=product, idempotency_key="k", params=params
    )
    return module_for("powerdns").call(context)


@pytest.fixture
def dns(powerdns):
    return _server(powerdns)


def _zone(powerdns, service):
    status, zone = powerdns.api("GET", f"/zones/{service.domain}.")
    return zone if status == 200 else None


def _zone_names(powerdns):
    return [zone["name"] for zone in powerdns.api("GET", "/zones")[1]]


def test_it_is_registered_with_its_declarations():
    module = module_for("powerdns")
    assert isinstance(module, PowerDnsModule) and module.default_port == 8081
    assert [setting.name for setting in module.credential_fields] == ["api_token"]
    assert module.supports(Action.USAGE) and module.supports(Action.LIST_ACCOUNTS)
    assert not module.supports(Action.SSO_LINK)


def test_create_makes_a_native_zone_tagged_with_the_service_that_answers_its_records(powerdns, dns):
    service = _service()
    details = _call(dns, Action.CREATE, service)

    assert details.username == service.domain and details.extra == {"zone": service.domain}
    assert details.host == "ns1.example.net" and not details.found_existing
    zone = _zone(powerdns, service)
    assert zone["kind"] == "Native" and zone["account"] == f"portal-service-{service.service_id}"
    rrsets = {(rrset["name"], rrset["type"]): [r["content"] for r in rrset["records"]] for rrset in zone["rrsets"]}
    name = f"{service.domain}."
    assert rrsets[(name, "NS")] == ["ns1.example.net.", "ns2.example.net."]
    assert rrsets[(name, "MX")] == [f"10 mail.{name}"]
    assert rrsets[(f"www.{name}", "CNAME")] == [name]
    assert powerdns.api("GET", f"/zones/{name}/metadata/{LIMIT_KIND}")[1]["metadata"] == ["50"]
    assert powerdns.dns_query(service.domain) == (RCODE_NOERROR, ["192.0.2.10"])
    assert powerdns.dns_query(service.domain, "MX") == (RCODE_NOERROR, [f"10 mail.{name}"])
    assert powerdns.dns_query(f"www.{service.domain}", "CNAME") == (RCODE_NOERROR, [name])


def test_a_repeated_create_finds_the_zone_it_made_and_makes_no_second_one(powerdns, dns):
    service = _service()
    _call(dns, Action.CREATE, service)
    again = _call(dns, Action.CREATE, service)

    assert again.found_existing and again.username == service.domain
    assert _zone_names(powerdns).count(f"{service.domain}.") == 1


def test_a_create_that_died_after_making_the_zone_sets_the_record_limit_on_the_next_attempt(powerdns, dns):
    service = _service()
    tag = f"portal-service-{service.service_id}"
    powerdns.api("POST", "/zones", {"name": f"{service.domain}.", "kind": "Native", "nameservers": [], "account": tag})

    assert _call(dns, Action.CREATE, service).found_existing
    assert powerdns.api("GET", f"/zones/{service.domain}./metadata/{LIMIT_KIND}")[1]["metadata"] == ["50"]


def test_a_zone_of_another_account_is_taken_and_left_as_it_was(powerdns, dns):
    service = _service()
    body = {"name": f"{service.domain}.", "kind": "Native", "nameservers": [], "account": "someone-else"}
    assert powerdns.api("POST", "/zones", body)[0] == 201
    before = _zone(powerdns, service)

    for action in (Action.CREATE, Action.SUSPEND, Action.TERMINATE, Action.USAGE):
        with pytest.raises(PermanentModuleError, match="is taken"):
            _call(dns, action, service)
    assert _zone(powerdns, service) == before


def test_suspend_disables_the_clients_records_and_keeps_them_and_unsuspend_brings_them_back(powerdns, dns):
    service = _service()
    _call(dns, Action.CREATE, service)
    records_before = _zone(powerdns, service)["rrsets"]

    done = _call(dns, Action.SUSPEND, service, reason="overdue")
    assert not done.already
    assert powerdns.dns_query(service.domain) == (RCODE_NOERROR, [])  # the zone answers, the A record is gone
    assert powerdns.dns_query(service.domain, "MX") == (RCODE_NOERROR, [])
    assert sorted(powerdns.dns_query(service.domain, "NS")[1]) == ["ns1.example.net.", "ns2.example.net."]
    for rrset in _zone(powerdns, service)["rrsets"]:
        stays_on = rrset["type"] == "SOA" or rrset["type"] == "NS"
        assert all(record["disabled"] is not stays_on for record in rrset["records"]), rrset
    assert _call(dns, Action.SUSPEND, service, reason="overdue").already

    assert not _call(dns, Action.UNSUSPEND, service).already
    assert powerdns.dns_query(service.domain) == (RCODE_NOERROR, ["192.0.2.10"])
    assert _same_records(_zone(powerdns, service)["rrsets"], records_before)
    assert _call(dns, Action.UNSUSPEND, service).already


def _same_records(after, before):
    def contents(rrsets):
        return sorted(
            (rrset["name"], rrset["type"], record["content"], record["disabled"])
            for rrset in rrsets
            if rrset["type"] != "SOA"  # its serial moves with every change
            for record in rrset["records"]
        )

    return contents(after) == contents(before)


def test_terminate_deletes_the_zone_and_a_second_terminate_finds_it_gone(powerdns, dns):
    service = _service()
    _call(dns, Action.CREATE, service)

    assert not _call(dns, Action.TERMINATE, service).already
    assert _zone(powerdns, service) is None
    assert powerdns.dns_query(service.domain)[0] == RCODE_REFUSED  # no longer a zone of this server
    assert _call(dns, Action.TERMINATE, service).already


def test_change_package_sets_the_record_limit_and_usage_counts_the_records(powerdns, dns):
    service = _service()
    _call(dns, Action.CREATE, service)
    assert _call(dns, Action.USAGE, service).figures == {"records": 4}

    done = _call(dns, Action.CHANGE_PACKAGE, service, settings={"default_records": "", "record_limit": 3})
    assert "; it holds 4 records, more than that" in done.message
    usage = _call(dns, Action.USAGE, service)
    assert usage.figures == {"records": 4} and usage.limits == {"records": 3}

    record = {"content": "192.0.2.99", "disabled": False}
    rrset = {"name": f"extra.{service.domain}.", "type": "A", "ttl": 60, "changetype": "REPLACE", "records": [record]}
    assert powerdns.api("PATCH", f"/zones/{service.domain}.", {"rrsets": [rrset]})[0] == 204
    assert _call(dns, Action.USAGE, service).figures == {"records": 5}


@pytest.mark.parametrize("limit", [0, 10001, "many"])
def test_a_record_limit_out_of_range_is_permanent_and_changes_nothing(powerdns, dns, limit):
    service = _service()
    _call(dns, Action.CREATE, service)

    with pytest.raises(PermanentModuleError, match="record_limit"):
        _call(dns, Action.CHANGE_PACKAGE, service, settings={"record_limit": limit})
    assert powerdns.api("GET", f"/zones/{service.domain}./metadata/{LIMIT_KIND}")[1]["metadata"] == ["50"]


@pytest.mark.parametrize(
    "records",
    [
        "@ 3600 A 999.0.2.10",
        "@ 3600 A",
        "@ sixty A 192.0.2.10",
        "@ 3600 PTR host.example.net.",
        "www 3600 CNAME elsewhere.example.net\n",  # relative target outside the zone
        "www 3600 CNAME @\nwww 3600 A 192.0.2.1",
        "../etc 3600 A 192.0.2.1",
        "@ 3600 TXT unquoted; rm -rf /",
        "@ 3600 A 192.0.2.1\n@ 60 A 192.0.2.2",
    ],
)
def test_default_records_that_do_not_fit_the_format_are_permanent_and_make_no_zone(powerdns, dns, records):
    service = _service()
    with pytest.raises(PermanentModuleError, match=r"default_records: (line \d+|'www' has a CNAME)"):
        _call(dns, Action.CREATE, service, product={"default_records": records})
    assert _zone(powerdns, service) is None


def test_more_default_records_than_the_limit_is_refused_by_the_settings(powerdns, dns):
    service = _service()
    with pytest.raises(PermanentModuleError, match="more than the record limit of 2"):
        _call(dns, Action.CREATE, service, product={"default_records": DEFAULT_RECORDS, "record_limit": 2})
    assert _zone(powerdns, service) is None


@pytest.mark.parametrize(
    "domain",
    [
        "shop.test'; DROP TABLE domains;--",
        "$(touch /tmp/pwned).test",
        "`id`.test",
        "shop.test; rm -rf /",
        "../../etc/passwd",
        "shop.test/../../zones",
        "shop%2e.test",
        "shop.test?rrsets=false",
        "shop.test\r\nX-API-Key: x",
        "a b.test",
        "",
    ],
)
def test_zone_names_with_sql_shell_or_path_characters_are_refused_before_any_request(powerdns, domain):
    closed = _server(powerdns, port=_closed_port())  # any request would end as a transient connection error
    zones_before = _zone_names(powerdns)
    for action in (Action.CREATE, Action.SUSPEND, Action.TERMINATE):
        with pytest.raises(PermanentModuleError, match=r"(is not allowed here|is empty)"):
            _call(closed, action, _service(domain))
    assert _zone_names(powerdns) == zones_before


def test_an_idn_zone_is_made_under_its_punycode_name(powerdns, dns):
    service = _service(f"bücher{next(_ids)}.test")
    details = _call(dns, Action.CREATE, service)
    assert details.username == service.domain.encode("idna").decode("ascii")
    assert details.username.startswith("xn--bcher") and f"{details.username}." in _zone_names(powerdns)


def test_test_connection_reports_the_servers_version(dns):
    assert "PowerDNS 4." in _call(dns, Action.TEST_CONNECTION).message


def test_a_wrong_key_is_permanent_and_the_message_holds_no_key(powerdns):
    wrong = "wrong-key-" + secrets.token_hex(8)
    with pytest.raises(PermanentModuleError, match="refused the key") as refused:
        _call(_server(powerdns, key=wrong), Action.TEST_CONNECTION)
    assert wrong not in refused.value.message and powerdns.api_key not in refused.value.message
    with pytest.raises(PermanentModuleError, match="refused the key"):
        _call(_server(powerdns, key=wrong), Action.CREATE, _service())


def test_a_server_without_a_key_is_refused_before_any_request(powerdns):
    with pytest.raises(PermanentModuleError, match="has no API key"):
        _call(_server(powerdns, key="", port=_closed_port()), Action.TEST_CONNECTION)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_closed_port_is_transient(powerdns):
    with pytest.raises(TransientModuleError, match="connection refused"):
        _call(_server(powerdns, port=_closed_port()), Action.CREATE, _service())


def test_https_against_a_plain_http_api_is_permanent_and_names_the_box(powerdns):
    with pytest.raises(PermanentModuleError, match='"use https"'):
        _call(_server(powerdns, secure=True), Action.TEST_CONNECTION)


def test_list_accounts_lists_the_zones_the_portal_made(powerdns, dns):
    ours = _service()
    _call(dns, Action.CREATE, ours)
    other = _service()
    body = {"name": f"{other.domain}.", "kind": "Native", "nameservers": [], "account": "someone-else"}
    powerdns.api("POST", "/zones", body)

    listed = {account.username: account for account in _call(dns, Action.LIST_ACCOUNTS).accounts}
    assert listed[ours.domain].service_id == ours.service_id and listed[ours.domain].domain == ours.domain
    assert other.domain not in listed


def test_change_password_changes_nothing(dns):
    assert _call(dns, Action.CHANGE_PASSWORD, _service(), password="x").already


# --- Answers a real pdns_server does not give on demand: a stand-in in PowerDNS's shapes ------------------------


class _StandIn:
    """An HTTP server on a free loopback port that answers every request with one status and JSON body."""

    def __init__(self, status: int, body: dict | None, delay: float = 0.0):
        answer = json.dumps(body).encode() if body is not None else b""

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                if delay:
                    threading.Event().wait(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the module gave up waiting, as it should

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815 (http.server's names)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stand_in():
    started = []

    def start(status, body=None, delay=0.0):
        started.append(_StandIn(status, body, delay))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _at(port: int, key: str = "the-key-123") -> ServerInfo:
    return ServerInfo(
        id=2, name="stand-in", hostname="127.0.0.1", port=port, secure=False, credentials={"api_token": key}
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient(stand_in, status):
    server = stand_in(status, {"error": "Backend error: database is locked"})
    with pytest.raises(TransientModuleError, match=f"HTTP {status}: Backend error: database is locked"):
        _call(_at(server.port), Action.CREATE, _service())


def test_a_422_is_permanent_with_powerdns_own_words_and_no_key(stand_in):
    server = stand_in(422, {"error": "RRset x.test. IN A: Conflicts with pre-existing RRset (key the-key-123)"})
    with pytest.raises(PermanentModuleError, match="Conflicts with pre-existing RRset") as refused:
        _call(_at(server.port), Action.CREATE, _service())
    assert "the-key-123" not in refused.value.message


def test_a_403_is_the_key_refused(stand_in):
    server = stand_in(403, None)
    with pytest.raises(PermanentModuleError, match="refused the key"):
        _call(_at(server.port), Action.TEST_CONNECTION)


def test_an_api_that_does_not_answer_in_time_is_transient(stand_in, settings):
    settings.PORTAL_MODULE_TIMEOUT_SECONDS = 0.3
    server = stand_in(200, {"version": "4.7.3"}, delay=2)
    with pytest.raises(TransientModuleError, match=r"did not answer within 0\.3s"):
        _call(_at(server.port), Action.TEST_CONNECTION)


def test_every_offered_record_type_reaches_the_zone(powerdns, dns):
    records = "\n".join(
        [
            "@ 600 A 192.0.2.10",
            "@ 600 AAAA 2001:db8::10",
            '@ 600 TXT "v=spf1 mx -all"',
            '@ 600 CAA 0 issue "letsencrypt.org"',
            "_sip._tcp 600 SRV 10 5 5060 sip.@",
            "sip 600 A 192.0.2.30",
            "*.apps 600 CNAME @",
            "# a comment line is skipped",
        ]
    )
    service = _service()
    _call(dns, Action.CREATE, service, product={"default_records": records})

    assert powerdns.dns_query(service.domain, "AAAA") == (RCODE_NOERROR, ["2001:db8::10"])
    assert powerdns.dns_query(f"anything.apps.{service.domain}", "CNAME") == (RCODE_NOERROR, [f"{service.domain}."])
    rrsets = {(rrset["name"], rrset["type"]): rrset for rrset in _zone(powerdns, service)["rrsets"]}
    assert (
        rrsets[(f"_sip._tcp.{service.domain}.", "SRV")]["records"][0]["content"] == f"10 5 5060 sip.{service.domain}."
    )
    assert rrsets[(f"{service.domain}.", "TXT")]["records"][0]["content"] == '"v=spf1 mx -all"'
    assert _call(dns, Action.USAGE, service).figures == {"records": 7}


def test_the_product_form_can_check_the_records_before_saving():
    cleaned = PowerDnsModule.product_settings_clean({"default_records": DEFAULT_RECORDS})
    assert cleaned["record_limit"] == 100
    with pytest.raises(SettingsInvalid) as invalid:
        PowerDnsModule.product_settings_clean({"default_records": "@ 3600 A 192.0.2.10\nwww 3600 MX mail.@"})
    assert invalid.value.errors == {
        "default_records": 'line 2: an MX record needs a priority and a host, e.g. "10 mail.@"'
    }
