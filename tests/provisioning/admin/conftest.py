"""Admins with some permissions and not others, servers and services of the 'scripted' test module
(tests/module_package), and a commit helper so the queue's after-commit tasks run in-process."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core import crypto
from provisioning.models import Server, ServerGroup, Service
from tests import module_package
from tests.factories import ProductFactory, ServiceFactory, UserFactory

RIGHT_TOKEN = "right-token"


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


@pytest.fixture
def staff_with():
    """A logged-in staff client holding only the permissions named ("provisioning.view_service", ...)."""

    def make(*perms: str) -> Client:
        user = UserFactory(is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        http = Client()
        http.force_login(user)
        return http

    return make


@pytest.fixture
def group(db):
    return ServerGroup.objects.create(name="EU panels", fill_type=ServerGroup.FillType.LEAST_FULL)


@pytest.fixture
def server(group):
    made = Server.objects.create(
        name="panel-1",
        hostname="panel-1.example.net",
        module="scripted",
        max_accounts=10,
        credentials_token=crypto.encrypt_json({"api_token": RIGHT_TOKEN}),
        settings={"region": "eu"},
    )
    made.groups.add(group)
    return made


@pytest.fixture
def scripted_service(customer, group, server):
    """An Active service of the scripted module on `server`, with a stored password."""
    product = ProductFactory(name="Panel hosting", module="scripted", server_group=group)
    return ServiceFactory(
        client=customer,
        product=product,
        module="scripted",
        module_settings={"fail": "", "fail_times": 0, "sleep": 0},
        server=server,
        status=Service.Status.ACTIVE,
        domain="shop.example.com",
        username="shop1",
        password_token=crypto.encrypt("account-pass-9876"),
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a request (or any call) with its after-commit work executed, as a real commit would."""

    def run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return run
