import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

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
