import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from notifications.webhooks.reactions import url_shown
from notifications.webhooks.services import endpoint_create

URL = reverse("admin:notifications_trigger_map")


@pytest.fixture
def viewer(db, client):
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(user)
    return client


def test_the_admin_page_lists_each_event_with_what_reacts_in_order(viewer, handlers, django_assert_max_num_queries):
    @handlers("FraudOrder", priority=5)
    def alert_admin(event):
        pass

    with django_assert_max_num_queries(12):
        page = viewer.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    fraud = text[text.index('id="event-FraudOrder"') :]
    fraud = fraud[: fraud.index("</tr>")]
    assert "test_the_admin_page_lists_each_event_with_what_reacts_in_order.&lt;locals&gt;.alert_admin" in fraud
    assert "(priority 5)" in fraud
    assert 'id="event-InvoicePaid"' in text and "provisioning.handlers" in text


def test_only_reacting_events_leaves_out_the_silent_ones(viewer):
    text = viewer.get(URL, {"reacting": "1"}).content.decode()
    assert 'id="event-InvoicePaid"' in text
    assert 'id="event-PreCronJob"' not in text


def test_staff_without_the_view_permission_get_a_403(db, client):
    user = get_user_model().objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403


def test_the_events_list_links_to_the_map(viewer):
    page = viewer.get(reverse("admin:notifications_event_changelist"))
    assert URL in page.content.decode()


def test_webhook_urls_show_their_query_and_user_info_only_to_staff_who_may_view_endpoints(viewer, client, db):
    endpoint_create(
        url="https://hooks.example.com:8443/in?token=s3cret#frag", all_events=True, actor=None, reason="the test"
    )
    shown = viewer.get(URL).content.decode()
    assert "https://hooks.example.com:8443/in" in shown and "s3cret" not in shown and "token=" not in shown

    manager = get_user_model().objects.create_user("manager", password="x", is_staff=True)
    manager.user_permissions.add(*Permission.objects.filter(codename__in=["view_event", "view_webhookendpoint"]))
    client.force_login(manager)
    assert "https://hooks.example.com:8443/in?token=s3cret" in client.get(URL).content.decode()


def test_the_shown_url_drops_user_info_query_and_fragment():
    assert url_shown("https://user:pw@[2001:db8::1]:8443/a/b?k=v#f") == "https://[2001:db8::1]:8443/a/b"
    assert url_shown("http://example.com/hook") == "http://example.com/hook"
