"""`alx token create|list|revoke: API tokens."""

from __future__ import annotations

from .. import clock, exitcodes
from ..errors import UserError
from .common import add_action, add_group, connect_installed
from .output import print_json, say, when


def register(sub) -> None:
    tokens = add_group(
        sub,
        "token",
        "create, list and revoke API tokens",
        "API tokens managed by ALX: 32 hex characters, bound to one company, stored only as a\n"
        "SHA-256 hash (the token is shown once, at creation). Moodle-issued tokens of the\n"
        "alx_report_api services keep working and are managed in Moodle.",
    )
    p = add_action(
        tokens,
        "create",
        cmd_token_create,
        "create a token for a company (printed once)",
        "Create an API token bound to a company. Plain output is the token alone on stdout\n"
        "(e.g. TOKEN=$(alx token create --company 3)). The token is shown once: store it now;\n"
        "only its SHA-256 hash is kept, so it cannot be shown again.",
    )
    p.add_argument(
        "--company", type=int, required=True, metavar="ID", help="IOMAD company id the token may read"
    )
    p.add_argument("--user", type=int, default=0, metavar="ID", help="Moodle user id to attribute calls to")
    p.add_argument("--name", default="", metavar="N", help="label, e.g. 'Power BI finance'")
    p.add_argument("--expires-days", type=int, metavar="D", help="expire after D days (default: never)")
    p.add_argument(
        "--ip",
        metavar="CIDR",
        help="allowed client addresses: comma-separated IPs or CIDR "
        "networks, e.g. 10.0.0.0/8,192.0.2.7 (default: any)",
    )
    p.add_argument("--json", action="store_true", help="print id, token, company and expiry as JSON")
    p = add_action(tokens, "list", cmd_token_list, "list managed tokens (never the tokens themselves)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(
        tokens,
        "revoke",
        cmd_token_revoke,
        "revoke a managed token at once (audited)",
        "Revoke a managed token: clients using it get accessexception from now on.\n"
        "Revoking an already revoked token changes nothing.",
    )
    p.add_argument("id", type=int, metavar="ID", help="token id, from `alx token list`")


def cmd_token_create(args) -> int:
    from .. import audit
    from ..access.settings import company_name
    from ..access.tokens import TokenError, create_token

    config = connect_installed(args)
    try:
        token, row = create_token(
            args.company,
            userid=args.user,
            name=args.name,
            expires_days=args.expires_days,
            ip=args.ip,
            actor=audit.current_actor(),
            now=clock.now(),
        )
    except TokenError as exc:
        raise UserError(str(exc)) from None
    company = company_name(row.companyid) or ""
    if args.json:
        print_json(
            {
                "id": row.id,
                "token": token,
                "companyid": row.companyid,
                "company": company,
                "userid": row.userid,
                "name": row.name,
                "expires": row.expires_at or None,
                "iprestriction": row.iprestriction,
            }
        )
    else:
        print(token)
    expiry = f"expires {when(row.expires_at, config.timezone)}" if row.expires_at else "does not expire"
    say(
        f"token {row.id} created for company {row.companyid} ({company}); {expiry}. It is shown only this "
        "once: store it now (`alx token revoke` if it leaks)."
    )
    return exitcodes.OK


def cmd_token_list(args) -> int:
    from ..access.tokens import list_tokens

    config = connect_installed(args)
    tokens = list_tokens(clock.now())
    if args.json:
        print_json(tokens)
        return exitcodes.OK
    print(
        f"{'id':>5}  {'status':8}  {'company':24}  {'user':>6}  {'created':19}  {'last used':19}  "
        f"{'expires':19}  {'ip':18}  name"
    )
    for t in tokens:
        company = f"{t['companyid']} {t['company']}"[:24]
        print(
            f"{t['id']:>5}  {t['status']:8}  {company:24}  {t['userid'] or '-':>6}  {when(t['created'], config.timezone):19}  "
            f"{when(t['lastused'], config.timezone):19}  {when(t['expires'], config.timezone) if t['expires'] else 'never':19}  "
            f"{t['iprestriction'] or 'any':18}  {t['name']}"
        )
    if not tokens:
        say("no managed tokens yet: `alx token create --company ID` creates one")
    return exitcodes.OK


def cmd_token_revoke(args) -> int:
    from .. import audit
    from ..access.tokens import TokenError, revoke_token

    config = connect_installed(args)
    try:
        row, revoked = revoke_token(args.id, audit.current_actor(), clock.now())
    except TokenError as exc:
        raise UserError(str(exc)) from None
    if revoked:
        say(f"token {row.id} ({row.name or 'unnamed'}, company {row.companyid}) revoked")
    else:
        say(f"token {row.id} was already revoked on {when(row.revoked_at, config.timezone)}; nothing changed")
    return exitcodes.OK
