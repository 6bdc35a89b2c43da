"""Reference API 003, an inbox-testing service: bearer token, ``{"data": [...]}``, no paging, nested paths.

Accounts hold billing cycles, permission resources, sending domains, inboxes and projects; inboxes hold
messages. Message ``g`` (0-based, ``g < min(records, 18000)``) lives in inbox ``g % 9`` counted
parent-first, so growing ``--records`` appends messages and never changes the ones already served.
"""

from __future__ import annotations

from airflow_provider_restsync.sandbox import fake
from airflow_provider_restsync.sandbox.spec import (
    UNPAGINATED_CAP,
    Api,
    Auth,
    Parents,
    Record,
    Resource,
    Scope,
    fixed,
)

NAME = "inbox_testing"
ACCOUNTS = 3
INBOXES = 3  # per account
PROJECTS = 2  # per account
SENDING_DOMAINS = 2  # per account
BILLING_CYCLES = 12  # per account: the months of 2023
ALL_INBOXES = ACCOUNTS * INBOXES
MESSAGES_CAP = ALL_INBOXES * UNPAGINATED_CAP
HOST = "inbox-testing.example"
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark")


def account_id(account: int) -> int:
    return 148_230 + account * 37


def inbox_id(account: int, inbox: int) -> int:
    return 2_307_400 + (account * INBOXES + inbox) * 11


def project_id(account: int, project: int) -> int:
    return 40_100 + (account * PROJECTS + project) * 3


def sending_domain_id(account: int, domain: int) -> int:
    return 7_100 + account * SENDING_DOMAINS + domain


def message_id(number: int) -> int:
    # Past 2**31 on purpose, as the real ids are: a 32-bit integer column would overflow.
    return 4_170_000_000 + number


def _inbox_name(seed: int, account: int, inbox: int) -> str:
    r = fake.rng(seed, NAME, "inbox-name", account, inbox)
    return f"{fake.pick(r, ('Staging', 'QA', 'Signup flow', 'Password resets', 'Newsletters'))} {inbox + 1}"


def _project_name(seed: int, account: int, project: int) -> str:
    r = fake.rng(seed, NAME, "project-name", account, project)
    return f"{fake.pick(r, ('Web app', 'Mobile app', 'Billing', 'Marketing site'))} {project + 1}"


def _domain_name(seed: int, account: int, domain: int) -> str:
    r = fake.rng(seed, NAME, "domain-name", account, domain)
    company = COMPANIES[account % len(COMPANIES)].lower()
    return f"{fake.pick(r, ('mail', 'notify', 'news'))}{domain + 1}.{company}.example"


def _permissions(r: fake.Draw) -> dict[str, bool]:
    admin = r.random() < 0.6
    return {"can_read": True, "can_update": admin, "can_destroy": admin, "can_leave": not admin}


def _message_count(scope: Scope, parents: Parents) -> int:
    account, inbox = parents
    total = min(scope.records, MESSAGES_CAP)
    slot = account * INBOXES + inbox
    return total // ALL_INBOXES + (1 if slot < total % ALL_INBOXES else 0)


def _message_number(index: int, parents: Parents) -> int:
    account, inbox = parents
    return index * ALL_INBOXES + account * INBOXES + inbox


def _is_read(number: int) -> bool:
    # Not drawn from the message's generator, so an inbox can count its unread messages cheaply.
    return fake.permute48(number, 0x1EAD) % 4 != 0


def account(scope: Scope, index: int, parents: Parents) -> Record:
    r = fake.rng(scope.seed, NAME, "accounts", index)
    return {
        "id": account_id(index),
        "name": f"{COMPANIES[index % len(COMPANIES)]} {fake.pick(r, ('QA', 'Engineering', 'Marketing'))}",
        "access_levels": fake.pick(r, ([1000], [100], [100, 10])),
    }


def billing_usage(scope: Scope, index: int, parents: Parents) -> Record:
    (acct,) = parents
    r = fake.rng(scope.seed, NAME, "billing_usage", acct, index)
    start = f"2023-{index + 1:02d}-01T00:00:00Z"
    end = f"2023-{index + 2:02d}-01T00:00:00Z" if index < 11 else "2024-01-01T00:00:00Z"
    limit = fake.pick(r, (500, 5_000, 50_000))
    sending_plan = fake.maybe(r, fake.pick(r, ("Basic 10K", "Business 100K")), 0.4)
    sending = None
    if sending_plan is not None:
        cap = 10_000 if sending_plan.startswith("Basic") else 100_000
        sending = {
            "plan": {"name": sending_plan},
            "usage": {"sent_messages_count": {"current": r.randrange(cap), "limit": cap}},
        }
    return {
        "id": account_id(acct) * 100 + index,
        "account_id": account_id(acct),
        "cycle_start": start,
        "cycle_end": end,
        "testing": {
            "plan": {"name": fake.pick(r, ("Free", "Individual", "Team", "Business"))},
            "usage": {
                "sent_messages_count": {"current": r.randrange(limit), "limit": limit},
                "forwarded_messages_count": {"current": r.randrange(limit // 10), "limit": limit // 10},
            },
        },
        "sending": sending,
    }


def permission_resource(scope: Scope, index: int, parents: Parents) -> Record:
    (acct,) = parents
    r = fake.rng(scope.seed, NAME, "resources", acct, index)
    if index < PROJECTS:
        inboxes = [
            {
                "id": inbox_id(acct, inbox),
                "name": _inbox_name(scope.seed, acct, inbox),
                "type": "inbox",
                "access_level": fake.pick(r, (1000, 100, 10)),
                "resources": [],
            }
            for inbox in range(INBOXES)
            if inbox % PROJECTS == index
        ]
        return {
            "id": project_id(acct, index),
            "name": _project_name(scope.seed, acct, index),
            "type": "project",
            "access_level": fake.pick(r, (1000, 100, 10)),
            "resources": inboxes,
        }
    domain = index - PROJECTS
    return {
        "id": sending_domain_id(acct, domain),
        "name": _domain_name(scope.seed, acct, domain),
        "type": "sending_domain",
        "access_level": fake.pick(r, (1000, 100)),
        "resources": [],
    }


def sending_domain(scope: Scope, index: int, parents: Parents) -> Record:
    (acct,) = parents
    r = fake.rng(scope.seed, NAME, "sending_domains", acct, index)
    domain_name = _domain_name(scope.seed, acct, index)
    verified = r.random() < 0.7
    status = "pass" if verified else "missing"

    def dns(key: str, kind: str, value: str, name: str, state: str = status) -> dict[str, str]:
        return {
            "key": key,
            "domain": domain_name,
            "type": kind,
            "value": value,
            "status": state,
            "name": name,
        }

    records = [
        dns("verification", "CNAME", f"smtp.{HOST}", fake.token(r, 12)),
        dns("spf", "TXT", f"v=spf1 include:_spf.{HOST} ~all", ""),
        dns("dkim1", "CNAME", f"dkim1.{HOST}", "rwmt1._domainkey"),
        dns("dmarc", "TXT", "v=DMARC1; p=none;", "_dmarc", fake.pick(r, ("pass", "missing"))),
    ]
    return {
        "id": sending_domain_id(acct, index),
        "account_id": account_id(acct),
        "domain_name": domain_name,
        "demo": False,
        "compliance_status": "compliant" if verified else fake.pick(r, ("pending", "unverified")),
        "dns_verified": verified,
        "dns_verified_at": fake.iso(-r.randrange(86_400, 300 * 86_400)) if verified else None,
        "dns_records": records,
        "open_tracking_enabled": r.random() < 0.7,
        "click_tracking_enabled": r.random() < 0.7,
        "auto_unsubscribe_link_enabled": r.random() < 0.5,
        "custom_domain_tracking_enabled": r.random() < 0.2,
        "health_alerts_enabled": r.random() < 0.8,
        "critical_alerts_enabled": r.random() < 0.8,
        "alert_recipient_email": fake.maybe(r, fake.person(r)[1], 0.5),
        "permissions": _permissions(r),
    }


def inbox(scope: Scope, index: int, parents: Parents) -> Record:
    (acct,) = parents
    r = fake.rng(scope.seed, NAME, "inboxes", acct, index)
    at = (acct, index)
    count = _message_count(scope, at)
    unread = sum(1 for i in range(count) if not _is_read(_message_number(i, at)))
    last = message(scope, count - 1, at)["sent_at"] if count else None
    username = fake.token(r, 14, "0123456789abcdef")
    return {
        "id": inbox_id(acct, index),
        "account_id": account_id(acct),
        "project_id": project_id(acct, index % PROJECTS),
        "name": _inbox_name(scope.seed, acct, index),
        "username": username,
        "max_size": fake.pick(r, (0, 50, 100)),
        "status": "active",
        "email_username": f"{username[:10]}-{index + 1}",
        "email_username_enabled": r.random() < 0.3,
        "email_domain": f"inbox.{HOST}",
        "emails_count": count,
        "emails_unread_count": unread,
        "last_message_sent_at": last,
        "smtp_ports": [25, 465, 587, 2525],
        "pop3_ports": [1100, 9950],
        "max_message_size": 5_242_880,
        "sent_messages_count": count + r.randrange(0, 500),
        "forwarded_messages_count": r.randrange(0, 50),
        "domain": f"smtp.{HOST}",
        "pop3_domain": f"pop3.{HOST}",
        "permissions": _permissions(r),
    }


def project(scope: Scope, index: int, parents: Parents) -> Record:
    (acct,) = parents
    r = fake.rng(scope.seed, NAME, "projects", acct, index)
    share = fake.token(r, 24)
    return {
        "id": project_id(acct, index),
        "account_id": account_id(acct),
        "name": _project_name(scope.seed, acct, index),
        "share_links": fake.maybe(
            r,
            {
                "admin": f"https://app.{HOST}/projects/{share}/admin",
                "viewer": f"https://app.{HOST}/projects/{share}",
            },
            0.4,
        ),
        "inboxes": [
            {"id": inbox_id(acct, i), "name": _inbox_name(scope.seed, acct, i)}
            for i in range(INBOXES)
            if i % PROJECTS == index
        ],
        "permissions": _permissions(r),
    }


def message(scope: Scope, index: int, parents: Parents) -> Record:
    acct, box = parents
    number = _message_number(index, parents)
    r = fake.rng(scope.seed, NAME, "messages", number)
    ident = message_id(number)
    from_name, from_email = fake.person(r)
    to_name, to_email = fake.person(r)
    html = r.randrange(0, 40_000) if r.random() < 0.8 else 0
    text = r.randrange(100, 4_000)
    size = html + text + r.randrange(800, 3_000)
    sent = fake.iso(number * 30 + r.randrange(30), r.randrange(1000))
    base = f"/v1/accounts/{account_id(acct)}/inboxes/{inbox_id(acct, box)}/messages/{ident}"
    return {
        "id": ident,
        "inbox_id": inbox_id(acct, box),
        "subject": fake.maybe(r, fake.subject(r), 0.03),
        "sent_at": sent,
        "from_email": from_email,
        "from_name": fake.maybe(r, from_name, 0.2),
        "to_email": to_email,
        "to_name": fake.maybe(r, to_name, 0.3),
        "email_size": size,
        "is_read": _is_read(number),
        "created_at": sent,
        "updated_at": sent,
        "html_body_size": html,
        "text_body_size": text,
        "human_size": f"{size / 1024:.1f} KB",
        "html_path": f"{base}/body.html",
        "txt_path": f"{base}/body.txt",
        "raw_path": f"{base}/body.raw",
        "download_path": f"{base}/body.eml",
        "html_source_path": f"{base}/body.htmlsource",
        "blacklists_report_info": fake.maybe(r, False, 0.5),
        "smtp_information": {
            "ok": r.random() < 0.97,
            "data": {"mail_from_addr": from_email, "client_ip": fake.ip_address(r)},
        },
    }


_PER_ACCOUNT = "per account"
API = Api(
    name=NAME,
    document="003_91797927eb36970c.txt",
    auth=Auth("bearer"),
    paging=None,
    # The document's error_handler retries 429 only, so 429 is the only status fault the sandbox sends.
    retried_statuses=frozenset({"429"}),
    resources=(
        Resource("accounts", "/v1/accounts", "data", fixed(ACCOUNTS), account, str(ACCOUNTS)),
        Resource(
            "billing_usage",
            "/v1/accounts/{account_id}/billing/usage",
            "data",
            fixed(BILLING_CYCLES),
            billing_usage,
            f"{BILLING_CYCLES} {_PER_ACCOUNT}",
            parent="accounts",
        ),
        Resource(
            "resources",
            "/v1/accounts/{account_id}/permissions/resources",
            "data",
            fixed(PROJECTS + SENDING_DOMAINS),
            permission_resource,
            f"{PROJECTS + SENDING_DOMAINS} {_PER_ACCOUNT} (its projects and sending domains)",
            parent="accounts",
        ),
        Resource(
            "sending_domains",
            "/v1/accounts/{account_id}/sending_domains",
            "data",
            fixed(SENDING_DOMAINS),
            sending_domain,
            f"{SENDING_DOMAINS} {_PER_ACCOUNT}",
            parent="accounts",
        ),
        Resource(
            "inboxes",
            "/v1/accounts/{account_id}/inboxes",
            "data",
            fixed(INBOXES),
            inbox,
            f"{INBOXES} {_PER_ACCOUNT}",
            parent="accounts",
        ),
        Resource(
            "messages",
            "/v1/accounts/{account_id}/inboxes/{inbox_id}/messages",
            "data",
            _message_count,
            message,
            f"min(records, {MESSAGES_CAP}) in all, message g in inbox g % {ALL_INBOXES}",
            parent="inboxes",
        ),
        Resource(
            "projects",
            "/v1/accounts/{account_id}/projects",
            "data",
            fixed(PROJECTS),
            project,
            f"{PROJECTS} {_PER_ACCOUNT}",
            parent="accounts",
        ),
    ),
)
