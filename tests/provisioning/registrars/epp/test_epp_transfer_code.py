"""A transfer in at the EPP test server with the code the client gave (issue 18: "a wrong EPP code" gives a clear
message, nothing half-done): a wrong code is refused by the registry (2201) and said in plain words on the client's
page; a new code retries the same call, the transfer completes and the code is not kept past it. A transfer the
registry refused later is sent again as a new round. The admin replaces or, to transfer by hand, reveals the code
(logged), each behind its permission."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient
from django.urls import reverse

from core import crypto
from notifications.models import ActivityLog
from provisioning.models import Domain, ModuleCall
from provisioning.queue.actions import CODE_RETRIES_PER_DAY, CodeKept, domain_epp_code_replace
from provisioning.registrars.base import RegistrarAction
from provisioning.services.domain_changes import admin_action_possible, domain_registrar_ask
from provisioning.services.domains import domain_activate
from tests.factories import DomainFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(epp_registrar, epp_server):
    """The EPP registrar configured as registrar-a; move.test held by registrar-b, its code "right-code"."""
    epp_registrar()
    epp_server.add_domain("move.test", sponsor="registrar-b", auth_info="right-code")
    return epp_server


@pytest.fixture
def transfer(customer):
    return DomainFactory(
        client=customer,
        name="move.test",
        status=Domain.Status.PENDING,
        registration_type=Domain.RegistrationType.TRANSFER,
        expiry_date=None,
        registrar="epp",
        epp_code_token=crypto.encrypt("wrong-code"),
    )


@pytest.fixture
def browser(customer):
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(customer.user)
    return browser


def _page(browser, domain) -> str:
    response = browser.get(reverse("clientarea:domain_detail", args=[domain.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _give_code(browser, domain, code, capture) -> str:
    with capture(execute=True):
        response = browser.post(reverse("clientarea:domain_epp_code", args=[domain.pk]), {"epp_code": code})
    assert response.status_code == 302
    domain.refresh_from_db()
    return browser.get(response.url).content.decode()


def _follow(domain, capture) -> None:
    with capture(execute=True):
        domain_registrar_ask(domain_id=domain.pk, action=RegistrarAction.TRANSFER_SYNC, actor=None, nonce="n1")
    domain.refresh_from_db()


def test_a_wrong_code_is_said_plainly_and_a_new_one_retries_the_same_call_to_the_end(
    registry, transfer, browser, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        domain_activate(domain=transfer, send_to_registrar=True, actor=None)
    transfer.refresh_from_db()
    call = ModuleCall.objects.get(domain=transfer)
    assert (transfer.status, call.status) == (Domain.Status.PENDING_TRANSFER, ModuleCall.Status.FAILED)
    assert "2201" in call.error
    page = _page(browser, transfer)
    assert "The registry refused the transfer: The registry refused the authorization (EPP code) for move.test." in page
    assert 'action="' + reverse("clientarea:domain_epp_code", args=[transfer.pk]) + '"' in page

    page = _give_code(browser, transfer, "right-code", django_capture_on_commit_callbacks)
    assert "the transfer is sent to the registry again with the new EPP code" in page
    call.refresh_from_db()
    assert ModuleCall.objects.filter(domain=transfer).count() == 1  # the same call, retried
    assert (call.status, call.attempts, transfer.status) == (
        ModuleCall.Status.SUCCEEDED,
        2,
        Domain.Status.PENDING_TRANSFER,
    )
    assert registry.registry.domains["move.test"].transfer.status == "pending"
    assert "The transfer is on its way" in _page(browser, transfer)

    registry.complete_transfer("move.test")
    _follow(transfer, django_capture_on_commit_callbacks)
    assert transfer.status == Domain.Status.ACTIVE
    assert transfer.expiry_date == registry.registry.domains["move.test"].expires_at.date()
    assert transfer.epp_code_token == ""  # done with it: not kept
    for row in ModuleCall.objects.filter(domain=transfer):
        excerpts = row.request_excerpt + row.response_excerpt + row.error + str(row.result)
        assert "right-code" not in excerpts and "wrong-code" not in excerpts
    assert not ActivityLog.objects.filter(message__contains="right-code").exists()


def test_a_transfer_the_registry_refused_later_takes_a_new_code_and_is_sent_again_as_a_new_round(
    registry, transfer, browser, django_capture_on_commit_callbacks
):
    Domain.objects.filter(pk=transfer.pk).update(epp_code_token=crypto.encrypt("right-code"))
    with django_capture_on_commit_callbacks(execute=True):
        domain_activate(domain=transfer, send_to_registrar=True, actor=None)
    registry.reject_transfer("move.test", "the owner said no")
    _follow(transfer, django_capture_on_commit_callbacks)
    assert (transfer.status, transfer.setup_round) == (Domain.Status.PENDING, 1)
    assert "The registry did not complete the transfer" in _page(browser, transfer)

    page = _give_code(browser, transfer, "right-code", django_capture_on_commit_callbacks)
    assert "the EPP code is kept for the transfer, which our team sends" in page
    assert transfer.status == Domain.Status.PENDING  # nothing sent by the client's hand

    with django_capture_on_commit_callbacks(execute=True):
        asked = domain_registrar_ask(domain_id=transfer.pk, action=RegistrarAction.TRANSFER, actor=None, nonce="n2")
    transfer.refresh_from_db()
    keys = list(ModuleCall.objects.filter(domain=transfer, action="transfer").values_list("idempotency_key", flat=True))
    assert sorted(keys) == [f"domain:{transfer.pk}:transfer:r0", f"domain:{transfer.pk}:transfer:r1"]
    assert asked.created and transfer.status == Domain.Status.PENDING_TRANSFER
    assert registry.count("domain:transfer:request") == 2


def test_the_code_is_taken_only_for_a_transfer_not_done_yet_and_a_bad_one_changes_nothing(customer, transfer):
    before = transfer.epp_code_token
    with pytest.raises(ValidationError, match="control character"):
        domain_epp_code_replace(domain_id=transfer.pk, code="bad\ncode", actor=None)
    with pytest.raises(ValidationError, match="Enter the EPP code"):
        domain_epp_code_replace(domain_id=transfer.pk, code="  ", actor=None)
    transfer.refresh_from_db()
    assert transfer.epp_code_token == before
    assert domain_epp_code_replace(domain_id=transfer.pk, code="new-one", actor=None) is CodeKept.FOR_SENDING
    transfer.refresh_from_db()
    assert crypto.decrypt(transfer.epp_code_token) == "new-one"
    registration = DomainFactory(client=customer, name="fresh.test", status=Domain.Status.PENDING)
    done = DomainFactory(client=customer, name="done.test", registration_type=Domain.RegistrationType.TRANSFER)
    for domain in (registration, done):
        with pytest.raises(ValidationError, match="only taken for a transfer in that is not done yet"):
            domain_epp_code_replace(domain_id=domain.pk, code="new-one", actor=None)


def test_another_clients_domain_is_a_404_and_changes_nothing(transfer):
    stranger = HttpClient(raise_request_exception=False)
    stranger.force_login(DomainFactory(name="theirs.test").client.user)
    response = stranger.post(reverse("clientarea:domain_epp_code", args=[transfer.pk]), {"epp_code": "x-1"})
    assert response.status_code == 404
    transfer.refresh_from_db()
    assert crypto.decrypt(transfer.epp_code_token) == "wrong-code"


def _staff(*codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_domain"),
        *Permission.objects.filter(content_type__app_label="provisioning", codename__in=codenames),
    )
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(user)
    return browser


def test_the_admin_reveals_the_code_once_with_the_permission_and_it_is_logged(transfer):
    reveal = reverse("admin:provisioning_domain_epp_code", args=[transfer.pk, "reveal"])
    change_page = reverse("admin:provisioning_domain_change", args=[transfer.pk])
    without = _staff("registrar_change_domain", "epp_code_domain")  # emailing the code is not seeing it
    assert without.post(reveal).status_code == 403
    assert reveal not in without.get(change_page).content.decode()
    allowed = _staff("reveal_epp_code_domain")
    assert reveal in allowed.get(change_page).content.decode()
    question = allowed.get(reveal).content.decode()
    assert "wrong-code" not in question and "written to the activity log" in question
    shown = allowed.post(reveal).content.decode()
    assert re.search(r'<code class="shown-password">wrong-code</code>', shown)
    logged = ActivityLog.objects.get(action="domain_epp_code_revealed")
    assert "wrong-code" not in logged.message and logged.client_id == transfer.client_id


def test_the_admin_replaces_the_code_and_a_refused_one_is_said_on_the_form(transfer):
    replace = reverse("admin:provisioning_domain_epp_code", args=[transfer.pk, "replace"])
    assert _staff("reveal_epp_code_domain").post(replace, {"epp_code": "x-1"}).status_code == 403
    admin = _staff("registrar_change_domain")
    form = admin.get(replace).content.decode()
    assert 'type="password"' in form and "wrong-code" not in form
    refused = admin.post(replace, {"epp_code": "a\x07b"})
    assert refused.status_code == 200 and "control character" in refused.content.decode()
    transfer.refresh_from_db()
    assert crypto.decrypt(transfer.epp_code_token) == "wrong-code"
    assert admin.post(replace, {"epp_code": "given-by-phone"}).status_code == 302
    transfer.refresh_from_db()
    assert crypto.decrypt(transfer.epp_code_token) == "given-by-phone"
    assert ActivityLog.objects.filter(action="domain_epp_code_given", subject_id=transfer.pk).count() == 1


def test_a_code_is_not_shown_once_the_transfer_is_over(transfer):
    Domain.objects.filter(pk=transfer.pk).update(status=Domain.Status.CANCELLED)
    reveal = reverse("admin:provisioning_domain_epp_code", args=[transfer.pk, "reveal"])
    response = _staff("reveal_epp_code_domain").post(reveal, follow=True)
    page = response.content.decode()
    assert "no transfer in waits for its EPP code" in page and "wrong-code" not in page
    assert not ActivityLog.objects.filter(action="domain_epp_code_revealed").exists()


def _refused_transfer(transfer, capture):
    with capture(execute=True):
        domain_activate(domain=transfer, send_to_registrar=True, actor=None)
    transfer.refresh_from_db()
    return ModuleCall.objects.get(domain=transfer)


def test_the_refused_code_again_asks_nothing_and_says_so(
    registry, transfer, browser, django_capture_on_commit_callbacks
):
    call = _refused_transfer(transfer, django_capture_on_commit_callbacks)
    page = _give_code(browser, transfer, "wrong-code", django_capture_on_commit_callbacks)
    assert "That is the EPP code the registry refused" in page
    call.refresh_from_db()
    assert (call.status, call.attempts, registry.count("domain:transfer:request")) == (ModuleCall.Status.FAILED, 1, 1)


def test_new_codes_retry_a_refused_transfer_a_few_times_a_day_then_leave_it_to_an_admin(
    registry, transfer, django_capture_on_commit_callbacks
):
    call = _refused_transfer(transfer, django_capture_on_commit_callbacks)
    outcomes = []
    for attempt in range(CODE_RETRIES_PER_DAY + 1):
        with django_capture_on_commit_callbacks(execute=True):
            outcomes.append(domain_epp_code_replace(domain_id=transfer.pk, code=f"guess-{attempt}", actor=None))
    assert outcomes == [CodeKept.RETRIED] * CODE_RETRIES_PER_DAY + [CodeKept.FOR_AN_ADMIN]
    call.refresh_from_db()
    assert call.attempts == 1 + CODE_RETRIES_PER_DAY
    assert registry.count("domain:transfer:request") == 1 + CODE_RETRIES_PER_DAY


def test_a_transfer_refused_for_another_reason_is_not_retried_by_a_new_code(
    registry, transfer, django_capture_on_commit_callbacks
):
    registry.registry.domains["move.test"].statuses.add("clientTransferProhibited")
    Domain.objects.filter(pk=transfer.pk).update(epp_code_token=crypto.encrypt("right-code"))
    call = _refused_transfer(transfer, django_capture_on_commit_callbacks)
    assert call.status == ModuleCall.Status.FAILED and not call.result.get("wrong_epp_code")
    with django_capture_on_commit_callbacks(execute=True):
        kept = domain_epp_code_replace(domain_id=transfer.pk, code="another-code", actor=None)
    call.refresh_from_db()
    assert (kept, call.attempts) == (CodeKept.FOR_AN_ADMIN, 1)


def test_transfer_in_is_not_offered_for_a_transfer_never_sent(registry, transfer):
    assert not admin_action_possible(transfer, RegistrarAction.TRANSFER)
    with pytest.raises(ValidationError, match="goes to the registrar when its order is accepted"):
        domain_registrar_ask(domain_id=transfer.pk, action=RegistrarAction.TRANSFER, actor=None, nonce="n3")
    transfer.refresh_from_db()
    assert transfer.status == Domain.Status.PENDING and not ModuleCall.objects.filter(domain=transfer).exists()
