"""The cPanel/WHM module against the WHM stand-in (tests/whm_standin.py): every action with its effect on the
panel's accounts, idempotency, the classified errors, the pinned certificate, and names that must not reach the
panel unchecked."""

import socket

import pytest

from provisioning.modules.base import (
    AccountDetails,
    Action,
    ModuleContext,
    ModuleError,
    PermanentModuleError,
    ServerInfo,
    ServiceSnapshot,
    SettingsInvalid,
    TransientModuleError,
    settings_clean,
)
from provisioning.modules.registry import load, module_for

load()
cpanel = module_for("cpanel")


def server_for(whm, **changes) -> ServerInfo:
    values = {
        "id": 1,
        "name": "whm1",
        "hostname": "localhost",
        "ip_address": "127.0.0.1",
        "port": whm.port,
        "username": "root",
        "credentials": {"api_token": whm.token},
        "settings": {"certificate_fingerprint": whm.fingerprint},
        **changes,
    }
    return ServerInfo(**values)


def service(**changes) -> ServiceSnapshot:
    values = {
        "service_id": 42,
        "client_id": 7,
        "product_name": "Shared hosting",
        "domain": "example.com",
        "client_email": "client@example.net",
        **changes,
    }
    return ServiceSnapshot(**values)


def run(whm, action: Action, *, snapshot=None, server=None, package="basic", **params):
    context = ModuleContext(
        action=action,
        service=snapshot if snapshot is not None else service(),
        server=server or server_for(whm),
        product_settings={"package": package, "contact_email": True},
        idempotency_key=f"test-{action.value}",
        params=params,
    )
    return cpanel.call(context)


def created(whm, **changes) -> ServiceSnapshot:
    """A service whose account exists on the panel, as the queue hands it to later calls."""
    details = run(whm, Action.CREATE, snapshot=service(**changes))
    return service(**changes, username=details.username, password=details.password)


# --- declarations ---------------------------------------------------------------------------------------------


def test_the_registry_offers_cpanel_with_its_port_credentials_and_a_required_package():
    assert cpanel.default_port == 2087
    assert [setting.name for setting in cpanel.credential_fields] == ["api_token"]
    assert {setting.name for setting in cpanel.server_settings} == {"certificate_fingerprint"}
    assert {Action.USAGE, Action.LIST_ACCOUNTS} <= cpanel.optional_actions
    with pytest.raises(SettingsInvalid) as refused:
        settings_clean(cpanel.product_settings, {})
    assert set(refused.value.errors) == {"package"}


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("example42", True),
        ("a", True),
        ("abcdefghijklmnop", True),
        ("abcdefghijklmnopq", False),  # 17 characters
        ("4example", False),
        ("testsite", False),
        ("mypassword", False),
        ("Example", False),
        ("ex_ample", False),
        ("ex-ample", False),
    ],
)
def test_usernames_follow_cpanels_rule(name, allowed):
    if allowed:
        assert cpanel.check_name(name) == name
    else:
        with pytest.raises(PermanentModuleError, match="not allowed"):
            cpanel.check_name(name)


def test_suggested_usernames_keep_the_service_id_in_the_first_eight_characters():
    """cPanel needs the first eight characters unique (database prefixes): two services never share them."""
    ids_by_prefix: dict[str, set[int]] = {}
    for service_id in (4, 42, 420, 4200, 42000, 420000, 4200000, 1, 12, 123, 1234567):
        for domain in ("example.com", "exampl4.com", "e.com", "test.com", "123.com", "examplecom.net", ""):
            name = cpanel.suggest_username(service(service_id=service_id, domain=domain))
            assert cpanel.check_name(name) == name
            ids_by_prefix.setdefault(name[:8], set()).add(service_id)
    assert all(len(ids) == 1 for ids in ids_by_prefix.values())
    assert cpanel.suggest_username(service(service_id=42, domain="example.com")) == "exampl42"


# --- actions and their effect on the panel ------------------------------------------------------------------


def test_create_makes_the_account_with_the_package_domain_email_and_returned_password(whm):
    details = run(whm, Action.CREATE)

    assert isinstance(details, AccountDetails) and not details.found_existing
    account = whm.accounts[details.username]
    assert (account.domain, account.plan, account.email) == ("example.com", "basic", "client@example.net")
    assert account.password == details.password and len(details.password) >= 16
    assert (details.host, details.port) == ("localhost", 2083)
    assert details.extra["domain"] == "example.com" and details.extra["package"] == "basic"


def test_create_uses_the_username_and_password_the_admin_chose(whm):
    details = run(whm, Action.CREATE, snapshot=service(username="shopowner", password="Chosen-Pass-123"))

    assert details.username == "shopowner"
    assert whm.accounts["shopowner"].password == "Chosen-Pass-123"


def test_a_repeated_create_makes_one_account_and_sets_the_password_it_returns(whm):
    first = run(whm, Action.CREATE)
    second = run(whm, Action.CREATE)

    assert list(whm.accounts) == [first.username]
    assert second.found_existing and second.username == first.username
    assert whm.accounts[first.username].password == second.password
    assert len(whm.calls("passwd")) == 1


def test_a_create_whose_answer_was_lost_is_found_by_the_next_attempt(whm):
    whm.fault = "drop_after"  # WHM makes the account, the answer never arrives
    with pytest.raises(TransientModuleError):
        run(whm, Action.CREATE)
    assert len(whm.accounts) == 1

    whm.fault = ""
    retried = run(whm, Action.CREATE)

    assert retried.found_existing
    assert len(whm.accounts) == 1 and whm.accounts[retried.username].password == retried.password


def test_a_username_that_belongs_to_another_domain_is_a_permanent_error_naming_it(whm):
    whm.add_account("exampl42", "someone-else.org")

    with pytest.raises(PermanentModuleError, match=r"'exampl42' is taken.*someone-else.org") as refused:
        run(whm, Action.CREATE)

    assert whm.accounts["exampl42"].domain == "someone-else.org"
    assert not whm.calls("passwd")  # the other account's password is left alone
    assert not refused.value.transient


def test_suspend_with_a_reason_and_unsuspend_change_the_account_and_repeat_as_already(whm):
    snapshot = created(whm)
    reason = "Overdue: invoice #12 & 'late' fee=$(id)"

    done = run(whm, Action.SUSPEND, snapshot=snapshot, reason=reason)
    again = run(whm, Action.SUSPEND, snapshot=snapshot, reason=reason)

    account = whm.accounts[snapshot.username]
    assert account.suspended and account.suspend_reason == reason  # arrived intact, encoded
    assert not done.already and again.already
    assert len(whm.calls("suspendacct")) == 1

    run(whm, Action.UNSUSPEND, snapshot=snapshot)
    assert not whm.accounts[snapshot.username].suspended
    assert run(whm, Action.UNSUSPEND, snapshot=snapshot).already


def test_terminate_removes_the_account_and_a_second_terminate_is_already_done(whm):
    snapshot = created(whm)

    removed = run(whm, Action.TERMINATE, snapshot=snapshot)
    again = run(whm, Action.TERMINATE, snapshot=snapshot)

    assert snapshot.username not in whm.accounts
    assert not removed.already and again.already
    assert len(whm.calls("removeacct")) == 1


def test_no_action_touches_an_account_that_serves_another_domain(whm):
    whm.add_account("shopowner", "other-shop.org")
    snapshot = service(username="shopowner")

    for action in (Action.TERMINATE, Action.SUSPEND, Action.CHANGE_PASSWORD):
        with pytest.raises(PermanentModuleError, match=r"serves 'other-shop.org'"):
            run(whm, action, snapshot=snapshot, password="Another-Pass-1")

    assert "shopowner" in whm.accounts and not whm.accounts["shopowner"].suspended
    assert not whm.calls("removeacct") and not whm.calls("suspendacct") and not whm.calls("passwd")


def test_change_package_moves_the_account_and_an_unknown_package_is_whms_permanent_refusal(whm):
    snapshot = created(whm)

    moved = run(whm, Action.CHANGE_PACKAGE, snapshot=snapshot, settings={"package": "gold"})
    assert whm.accounts[snapshot.username].plan == "gold" and moved.extra == {"package": "gold"}

    with pytest.raises(PermanentModuleError, match="refused changepackage: The package “x y” does not exist"):
        run(whm, Action.CHANGE_PACKAGE, snapshot=snapshot, settings={"package": "x y"})
    assert whm.calls("changepackage")[-1].body.endswith("pkg=x+y")  # encoded in the body, not formatted in
    assert whm.accounts[snapshot.username].plan == "gold"


def test_change_password_sets_it_on_the_panel_without_putting_it_in_the_url(whm):
    snapshot = created(whm)
    password = "n&w=P@ss w0rd#?/%"

    run(whm, Action.CHANGE_PASSWORD, snapshot=snapshot, password=password)

    assert whm.accounts[snapshot.username].password == password
    request = whm.calls("passwd")[-1]
    assert request.params["password"] == password
    assert request.query == "api.version=1"


def test_usage_reports_disk_use_and_the_packages_limit_in_bytes(whm):
    snapshot = created(whm)
    whm.accounts[snapshot.username].disk_used_mib = 14
    run(whm, Action.CHANGE_PACKAGE, snapshot=snapshot, settings={"package": "gold"})

    usage = run(whm, Action.USAGE, snapshot=snapshot)

    assert usage.figures == {"disk_bytes": 14 * 1024 * 1024}
    assert usage.limits == {"disk_bytes": 5000 * 1024 * 1024}


def test_list_accounts_and_the_sign_on_link_come_from_the_panel(whm):
    snapshot = created(whm)
    whm.add_account("stranger", "stranger.org")

    listed = run(whm, Action.LIST_ACCOUNTS, snapshot=snapshot)
    link = run(whm, Action.SSO_LINK, snapshot=snapshot)

    assert {(account.username, account.domain) for account in listed.accounts} == {
        (snapshot.username, "example.com"),
        ("stranger", "stranger.org"),
    }
    assert link.url.startswith("https://localhost:2083/cpsess")
    assert whm.calls("create_user_session")[-1].params["user"] == snapshot.username


def test_test_connection_names_the_version_and_lists_one_account(whm):
    ok = run(whm, Action.TEST_CONNECTION, snapshot=None)

    assert "WHM 11.124.0.15 answered" in ok.message
    assert whm.calls("listaccts")[-1].params["api.chunk.size"] == "1"


def test_the_token_travels_only_in_the_header(whm):
    snapshot = created(whm)
    run(whm, Action.SUSPEND, snapshot=snapshot, reason="abuse")
    run(whm, Action.TERMINATE, snapshot=snapshot)

    requests = whm.calls()
    assert len(requests) >= 5  # createacct, a lookup and suspendacct, a lookup and removeacct
    for request in requests:
        assert request.headers["authorization"] == f"whm root:{whm.token}"
        assert request.query == "api.version=1"
        assert whm.token not in request.body and whm.token not in request.path


# --- errors -----------------------------------------------------------------------------------------------------


def test_a_wrong_token_is_a_permanent_error_without_the_token(whm):
    with pytest.raises(PermanentModuleError, match="refused the API token") as refused:
        run(whm, Action.CREATE, server=server_for(whm, credentials={"api_token": "WRONGTOKEN0123456789ABCDEFGHIJKL"}))

    assert "WRONGTOKEN" not in refused.value.message and whm.token not in refused.value.message
    assert not whm.accounts


def test_a_missing_token_is_refused_before_any_request(whm):
    with pytest.raises(PermanentModuleError, match="no WHM API token"):
        run(whm, Action.TEST_CONNECTION, snapshot=None, server=server_for(whm, credentials={}))
    assert not whm.calls()


def test_a_closed_port_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once it is closed
    server = ServerInfo(
        id=1,
        name="gone",
        hostname="localhost",
        ip_address="127.0.0.1",
        port=port,
        credentials={"api_token": "A" * 32},
        settings={"certificate_fingerprint": "ab" * 32},
    )
    context = ModuleContext(action=Action.TEST_CONNECTION, service=None, server=server)

    with pytest.raises(TransientModuleError, match="Could not connect"):
        cpanel.call(context)


def test_a_panel_that_closes_the_connection_is_transient(whm):
    whm.fault = "refuse"
    with pytest.raises(TransientModuleError):
        run(whm, Action.CREATE)
    assert not whm.accounts


def test_a_hanging_panel_times_out_as_transient(whm, settings):
    settings.PORTAL_MODULE_TIMEOUT_SECONDS = 1
    whm.fault = "hang"

    with pytest.raises(TransientModuleError, match="did not answer createacct within 1 s"):
        run(whm, Action.CREATE)


def test_a_panel_answering_503_is_transient(whm):
    whm.fault = "unavailable"
    with pytest.raises(TransientModuleError, match="HTTP 503"):
        run(whm, Action.TEST_CONNECTION, snapshot=None)


def test_a_locked_account_is_a_transient_refusal_and_another_refusal_is_permanent(whm):
    whm.refuse_next("createacct", "Unable to obtain a lock on the account database; try again later.")
    with pytest.raises(TransientModuleError, match="lock"):
        run(whm, Action.CREATE)

    whm.refuse_next("createacct", "The system could not create the account: quota exceeded.")
    with pytest.raises(PermanentModuleError, match="quota exceeded"):
        run(whm, Action.CREATE)
    assert not whm.accounts


def test_a_certificate_that_does_not_match_the_pin_is_refused_before_the_token_is_sent(whm):
    other = "0" * 64
    with pytest.raises(PermanentModuleError, match="does not match the pinned fingerprint"):
        run(whm, Action.CREATE, server=server_for(whm, settings={"certificate_fingerprint": other}))
    assert not whm.calls()


def test_the_pin_may_be_written_with_colons_in_capitals(whm):
    pin = ":".join(whm.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    ok = run(
        whm, Action.TEST_CONNECTION, snapshot=None, server=server_for(whm, settings={"certificate_fingerprint": pin})
    )
    assert "answered" in ok.message


def test_without_a_pin_a_self_signed_certificate_is_not_trusted(whm):
    with pytest.raises(PermanentModuleError, match=r"not trusted.*pin its SHA-256 fingerprint"):
        run(whm, Action.TEST_CONNECTION, snapshot=None, server=server_for(whm, settings={}))
    assert not whm.calls()


def test_a_malformed_pin_and_a_plain_http_server_are_refused_before_any_request(whm):
    with pytest.raises(PermanentModuleError, match="not a SHA-256 fingerprint"):
        run(
            whm,
            Action.TEST_CONNECTION,
            snapshot=None,
            server=server_for(whm, settings={"certificate_fingerprint": "abc"}),
        )
    with pytest.raises(PermanentModuleError, match="only sent over HTTPS"):
        run(whm, Action.TEST_CONNECTION, snapshot=None, server=server_for(whm, secure=False))
    assert not whm.calls()


# --- names that reach the panel ---------------------------------------------------------------------------------

METACHARACTERS = ["a&b=c", "../etc", "$(id)", "x y", "'; DROP TABLE users; --", "a\nb", "ab%26c", "a/b"]


@pytest.mark.parametrize("name", METACHARACTERS)
def test_a_username_with_metacharacters_is_refused_before_any_request(whm, name):
    with pytest.raises(PermanentModuleError, match=r"username .* is not allowed"):
        run(whm, Action.CREATE, snapshot=service(username=name))
    assert not whm.calls() and not whm.accounts


@pytest.mark.parametrize("name", METACHARACTERS)
def test_a_domain_with_metacharacters_is_refused_before_any_request(whm, name):
    with pytest.raises(PermanentModuleError, match="domain cannot be used"):
        run(whm, Action.CREATE, snapshot=service(domain=f"{name}.com"))
    assert not whm.calls() and not whm.accounts


@pytest.mark.parametrize("name", [name for name in METACHARACTERS if name != "x y"])
def test_a_package_with_metacharacters_is_refused_before_any_request(whm, name):
    with pytest.raises(PermanentModuleError, match=r"package .* is not allowed"):
        run(whm, Action.CREATE, package=name)
    assert not whm.calls() and not whm.accounts


def test_names_the_panel_refuses_arrive_encoded_and_end_as_whms_permanent_refusal(whm):
    with pytest.raises(PermanentModuleError, match="“x y” does not exist"):
        run(whm, Action.CREATE, package="x y")
    assert whm.calls("createacct")[-1].params["plan"] == "x y"

    with pytest.raises(PermanentModuleError, match="“postmaster” is reserved"):
        run(whm, Action.CREATE, snapshot=service(username="postmaster"))

    whm.add_account("examplec", "example.org")
    with pytest.raises(PermanentModuleError, match="first eight characters"):
        run(whm, Action.CREATE, snapshot=service(username="examplecom"))
    assert set(whm.accounts) == {"examplec"}


def test_a_module_error_never_carries_the_password(whm):
    snapshot = created(whm)
    password = "Secret-Pass-Value-9"
    whm.refuse_next("passwd", f"The password “{password}” is too weak.")  # a reason that quotes it back

    with pytest.raises(ModuleError) as refused:
        run(whm, Action.CHANGE_PASSWORD, snapshot=snapshot, password=password)

    assert password not in refused.value.message and "too weak" in refused.value.message
