"""Command line: `python -m bot [run|migrate|deliver|sandbox|web|staff|makemigration MSG|compile-locales]`.

Heavy modules (aiogram, Alembic) are imported only by the commands that use them: `migrate`, the child
process of every start, imports neither aiogram nor the handlers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Khuyến công bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot with long polling (default)")
    sub.add_parser("migrate", help="bring the database to the latest revision")
    sub.add_parser("set-webhooks", help="tell each channel in webhook mode where to POST its updates (a release step)")
    sub.add_parser("deliver", help="run only the outbox sender (more senders may share a PostgreSQL database)")
    rev = sub.add_parser("makemigration", help="autogenerate a migration (developers)")
    rev.add_argument("message")
    sub.add_parser("compile-locales", help="check that the .po catalogs compile (done in memory at every start)")
    sub.add_parser("access", help="list collaborators, staff and pending invitations")
    rv = sub.add_parser("revoke", help="take a collaborator's or invited staff member's access away")
    rv.add_argument("telegram_id")
    ci = sub.add_parser("cancel-invite", help="cancel an invitation that has not been used")
    ci.add_argument("token")
    sb = sub.add_parser("sandbox", help="try the bot without Telegram: local Bot API, web chat, demo data")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8080)
    sb.add_argument("--keep", action="store_true", help="keep the sandbox database from the last run")
    web = sub.add_parser("web", help="serve the staff web console (no channel token needed)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8000)
    st = sub.add_parser("staff", help="set a staff member's console password")
    st_sub = st.add_subparsers(dest="staff_action", required=True)
    st_add = st_sub.add_parser("add", help="make someone who wrote to the bot staff, with a console password")
    st_add.add_argument("who", help="their number in the users table, chat id, @username or full name")
    st_add.add_argument("--login", help="the name they type to sign in (default: @username or full name)")
    st_pw = st_sub.add_parser("passwd", help="change a staff member's console password")
    st_pw.add_argument("who")
    st_pw.add_argument("--login")
    return parser.parse_args(argv)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Request URLs contain the token; keep aiohttp's and aiogram's request logs out of INFO.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Ticks every few seconds would drown the log; alembic lists its plugins at every start.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    from bot.config import SettingsError
    from bot.startup import StartupError

    try:
        return dispatch(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "sandbox":
        from bot.sandbox.run import main as sandbox_main

        sandbox_main(args.host, args.port, args.keep)
        return 0
    if args.command == "compile-locales":
        from bot.i18n import compile_catalogs

        for locale, data in compile_catalogs().items():
            print(f"{locale}: {len(data)} bytes compiled")
        return 0
    from bot.config import load_settings

    settings = load_settings()
    if args.command == "web":
        from bot.web.run import main as web_main

        web_main(settings, args.host, args.port)
        return 0
    if args.command == "staff":
        return staff(settings, args)
    if args.command in ("access", "revoke", "cancel-invite"):
        from bot.runner import access_cmd

        print(asyncio.run(access_cmd(settings, args.command, getattr(args, "telegram_id", None)
                                     or getattr(args, "token", None))))
    elif args.command == "migrate":
        from bot.startup import migrate_cmd

        asyncio.run(migrate_cmd(settings))
    elif args.command == "set-webhooks":
        from bot.runner import set_webhooks_cmd

        print("\n".join(asyncio.run(set_webhooks_cmd(settings))))
    elif args.command == "makemigration":
        from bot.startup import make_revision_cmd

        asyncio.run(make_revision_cmd(settings, args.message))
    elif args.command == "deliver":
        from bot.runner import deliver

        asyncio.run(deliver(settings))
    else:
        from bot.runner import run

        asyncio.run(run(settings))
    return 0


def staff(settings: object, args: argparse.Namespace) -> int:
    from bot.services.staff_auth import CliError
    from bot.staff_cli import staff_cmd

    try:
        print(asyncio.run(staff_cmd(settings, args.staff_action, args.who, args.login)))  # type: ignore[arg-type]
    except CliError as exc:
        print(f"staff {args.staff_action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
