"""Command line: `python -m bot [run|migrate|makemigration MSG|compile-locales]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Khuyến công bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot with long polling (default)")
    sub.add_parser("migrate", help="bring the database to the latest revision")
    sub.add_parser("deliver", help="run only the outbox sender (more senders may share a PostgreSQL database)")
    rev = sub.add_parser("makemigration", help="autogenerate a migration (developers)")
    rev.add_argument("message")
    sub.add_parser("compile-locales", help="compile .po catalogs to .mo")
    sub.add_parser("access", help="list collaborators, staff and pending invitations")
    rv = sub.add_parser("revoke", help="take a collaborator's or invited staff member's access away")
    rv.add_argument("telegram_id")
    ci = sub.add_parser("cancel-invite", help="cancel an invitation that has not been used")
    ci.add_argument("token")
    sb = sub.add_parser("sandbox", help="try the bot without Telegram: local Bot API, web chat, demo data")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8080)
    sb.add_argument("--keep", action="store_true", help="keep the sandbox database from the last run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Request URLs contain the token; keep aiohttp's and aiogram's request logs out of INFO.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Ticks every few seconds would drown the log; alembic lists its plugins at every start.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    if args.command == "sandbox":
        from bot.sandbox.run import main as sandbox_main

        sandbox_main(args.host, args.port, args.keep)
        return 0
    if args.command == "compile-locales":
        from bot.i18n import compile_catalogs

        compile_catalogs()
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bot.runner import access_cmd, deliver, make_revision_cmd, migrate_cmd, run

    if args.command in ("access", "revoke", "cancel-invite"):
        print(asyncio.run(access_cmd(settings, args.command, getattr(args, "telegram_id", None)
                                     or getattr(args, "token", None))))
    elif args.command == "deliver":
        asyncio.run(deliver(settings))
    elif args.command == "migrate":
        asyncio.run(migrate_cmd(settings))
    elif args.command == "makemigration":
        asyncio.run(make_revision_cmd(settings, args.message))
    else:
        asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
