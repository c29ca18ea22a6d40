"""Steps the browser tests share."""

from playwright.sync_api import expect

from tests.factories import PASSWORD


def log_in_to_the_admin(page, live_server, admin_user) -> None:
    """Log in as pytest-django's `admin_user` (password "password") and wait for the admin to greet them."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(admin_user.username)


def log_in_to_the_client_area(page, live_server, client) -> None:
    """Log in as a ClientFactory client (its user has the factories' password)."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", client.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`securitypolicyviolation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def watch_csp_violations(context) -> list[str]:
    """The Content-Security-Policy violations the pages of this browser context report (a list that fills up)."""
    violations: list[str] = []
    context.add_init_script(REPORT_VIOLATIONS)
    context.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "securitypolicyviolation" in message.text
            else None
        ),
    )
    return violations
