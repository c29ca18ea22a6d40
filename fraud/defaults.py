"""Default lists for the fraud settings. Admins edit the lists in the Django admin; these fill a new database.

The schema migration refers to the functions below as field defaults, so they must keep their names.
"""

FREE_EMAIL_DOMAINS = (
    "aol.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.de",
    "hotmail.fr",
    "icloud.com",
    "inbox.ru",
    "live.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "t-online.de",
    "tutanota.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
)

DISPOSABLE_EMAIL_DOMAINS = (
    "10minutemail.com",
    "33mail.com",
    "dispostable.com",
    "emailondeck.com",
    "fakeinbox.com",
    "getairmail.com",
    "getnada.com",
    "guerrillamail.biz",
    "guerrillamail.com",
    "guerrillamail.de",
    "guerrillamail.info",
    "guerrillamail.net",
    "guerrillamail.org",
    "guerrillamailblock.com",
    "maildrop.cc",
    "mailinator.com",
    "mailnesia.com",
    "mintemail.com",
    "mohmal.com",
    "mytemp.email",
    "sharklasers.com",
    "spam4.me",
    "temp-mail.org",
    "tempail.com",
    "tempmail.com",
    "tempmailo.com",
    "tempr.email",
    "throwawaymail.com",
    "trashmail.com",
    "trashmail.de",
    "yopmail.com",
    "yopmail.fr",
)

# Empty on purpose: which countries a provider treats as high-risk is a business decision, not ours.
HIGH_RISK_COUNTRIES: tuple[str, ...] = ()


def default_free_email_domains() -> str:
    return "\n".join(FREE_EMAIL_DOMAINS)


def default_disposable_email_domains() -> str:
    return "\n".join(DISPOSABLE_EMAIL_DOMAINS)
