"""The ``diemcau`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from controller import __version__
from controller.accounts import Accounts
from controller.audit import AuditLog
from controller.config import ROLES, SiteConfig, load_config, read_secret
from controller.errors import ConfigError, DiemcauError
from controller.logs import configure_logging
from controller.store import Store, backup_database

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _load(args: argparse.Namespace) -> SiteConfig:
    return load_config(args.config)


@contextmanager
def _opened(config: SiteConfig) -> Iterator[tuple[Store, AuditLog, Accounts]]:
    """The site's store, audit log and accounts, closed again afterwards."""
    from controller.app import open_store

    store = open_store(config)
    try:
        audit = AuditLog(store, config.site.id, time.time, config.audit.retention_days)
        accounts = Accounts(store, audit, config.security,
                            config.console.session_idle_minutes, time.time)
        yield store, audit, accounts
    finally:
        store.close()


def read_new_password(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """One line from stdin when it is not a terminal; otherwise ask twice."""
    if not stdin.isatty():
        line = stdin.readline()
        if not line:
            raise DiemcauError("no password on standard input", code="password_required")
        return line.rstrip("\r\n")
    first = prompt("Mật khẩu mới / New password: ")
    second = prompt("Nhập lại / Repeat: ")
    if first != second:
        raise DiemcauError("the two passwords differ", code="password_mismatch")
    return first


def _secret_values(config: SiteConfig) -> list[str]:
    """The contents of every secret file, so the log filter can mask them."""
    values = []
    for _, path in config.secret_files():
        try:
            values.append(read_secret(path))
        except (OSError, UnicodeDecodeError):
            continue
    return values


# -- commands -------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    secret_filter = configure_logging(config.logging.level, config.logging.format)
    secret_filter.add(_secret_values(config))
    from controller.app import run_site

    asyncio.run(run_site(config))
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            load_config(path)
        except ConfigError as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            status = EXIT_USAGE
        else:
            print(f"{path}: OK")
    return status


def cmd_user_add(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.role not in ROLES:
        raise DiemcauError(f"role must be one of {', '.join(ROLES)}", code="bad_role")
    password = read_new_password(sys.stdin)
    with _opened(config) as (_, _, accounts):
        user = accounts.add(args.name, password, args.role, actor=_actor())
    print(f"created {user.username} ({user.role})")
    return EXIT_OK


def cmd_user_passwd(args: argparse.Namespace) -> int:
    config = _load(args)
    password = read_new_password(sys.stdin)
    with _opened(config) as (_, _, accounts):
        accounts.set_password(args.name, password, actor=_actor())
    print(f"password of {args.name} changed; their console sessions were ended")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    config = _load(args)
    with _opened(config) as (_, _, accounts):
        users = accounts.list()
    now = time.time()
    print(f"{'USERNAME':<24} {'ROLE':<9} STATE")
    for user in users:
        state = "disabled" if user.disabled else "active"
        if user.locked_until and user.locked_until > now:
            state = f"locked for {max(1, round((user.locked_until - now) / 60))} min"
        print(f"{user.username:<24} {user.role:<9} {state}")
    return EXIT_OK


def cmd_user_unlock(args: argparse.Namespace) -> int:
    config = _load(args)
    with _opened(config) as (_, _, accounts):
        accounts.unlock(args.name, actor=_actor())
    print(f"{args.name} unlocked")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    config = _load(args)
    dest, pages = backup_database(config.storage.database, Path(args.dest))
    print(f"backup written to {dest} ({pages} pages)")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from controller.periods import PeriodError, parse_period
    from controller.reports import build_report, render

    config = _load(args)
    try:
        period = parse_period(args.period, config.reports.cutoff_day)
    except PeriodError as exc:
        print(f"diemcau: --period: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bar = _progress_bar(sys.stderr) if sys.stderr.isatty() else None
    with _opened(config) as (store, audit, _):
        report = build_report(config, store, period, subtree=args.subtree,
                              number=args.number or "", progress=bar)
        data = render(report, args.format, args.lang)
        audit.record(_actor(), "report.generate", period.label,
                     details={"format": args.format, "subtree": args.subtree,
                              "rows": len(report["rows"])})
        if args.filed:
            from controller.usage import mark_filed

            mark_filed(store, period.label, period.first.isoformat(), period.last.isoformat(),
                       by=_actor(), now=time.time())
            audit.record(_actor(), "report.filed", period.label)
    Path(args.out).write_bytes(data)
    if bar is not None:
        print(file=sys.stderr)
    totals = report["totals"]
    print(f"{args.out}: {period.label} ({report['period']['start']} – "
          f"{report['period']['end']}), {totals['sites']} điểm cầu, "
          f"{totals['sessions_invited']} lượt mời, {totals['sessions_attended']} lượt dự")
    return EXIT_OK


def _progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        filled = 30 * done // total if total else 30
        percent = 100 * done // total if total else 100
        stream.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {percent:3d} %")
        stream.flush()
    return show


def cmd_audit_verify(args: argparse.Namespace) -> int:
    config = _load(args)
    with _opened(config) as (store, audit, _):
        problems = audit.verify()
        row = store.query_one("SELECT COUNT(*) AS n FROM audit_log")
    count = row["n"] if row else 0
    if not problems:
        print(f"audit log intact: {count} entries, chain verified")
        return EXIT_OK
    for problem in problems:
        print(f"entry {problem.entry_id}: {problem.message}", file=sys.stderr)
    print(f"audit log TAMPERED: {len(problems)} problem(s) in {count} entries", file=sys.stderr)
    return EXIT_FAILURE


def cmd_doctor(args: argparse.Namespace) -> int:
    from controller.doctor import run_checks

    logging.disable(logging.ERROR)  # the checks below say what is wrong, once each
    results = run_checks(args.config)
    worst = EXIT_OK
    for result in results:
        print(f"[{result.status:>4}] {result.name}: {result.detail}")
        if result.status == "FAIL":
            worst = EXIT_FAILURE
    return worst


def cmd_demo(args: argparse.Namespace) -> int:
    from controller.demo import run_demo

    configure_logging("warning" if not args.verbose else "info", "text")
    return run_demo(base_port=args.base_port, data_dir=args.data_dir, host=args.host)


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diemcau", description="Site controller for the online-conference network.")
    parser.add_argument("--version", action="version", version=f"diemcau {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", required=True, metavar="FILE", help="the site's TOML config")
        return p

    p = with_config(sub.add_parser("run", help="run a site controller"))
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate config files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_check_config)

    user = sub.add_parser("user", help="console accounts").add_subparsers(
        dest="user_command", required=True, metavar="ACTION")
    p = with_config(user.add_parser("add", help="create an account (password on stdin)"))
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.set_defaults(func=cmd_user_add)
    p = with_config(user.add_parser("passwd", help="set a password (on stdin)"))
    p.add_argument("name")
    p.set_defaults(func=cmd_user_passwd)
    p = with_config(user.add_parser("list", help="list accounts"))
    p.set_defaults(func=cmd_user_list)
    p = with_config(user.add_parser("unlock", help="clear a lockout"))
    p.add_argument("name")
    p.set_defaults(func=cmd_user_unlock)

    p = with_config(sub.add_parser("backup", help="online backup of the site database"))
    p.add_argument("dest", metavar="DEST", help="a file, or a folder for a dated file")
    p.set_defaults(func=cmd_backup)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    p = with_config(audit.add_parser("verify", help="check the hash chain"))
    p.set_defaults(func=cmd_audit_verify)

    p = with_config(sub.add_parser("report", help="the periodic usage report"))
    p.add_argument("--period", required=True,
                   help="2026-H1, 2026-H2, 2026 or 2026-01-01..2026-03-31")
    p.add_argument("--format", choices=("json", "csv", "xlsx", "pdf"), default="pdf")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--subtree", action="store_true",
                   help="a row for every site below this one too")
    p.add_argument("--number", help="the document number, e.g. 12/BC-UBND")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.add_argument("--filed", action="store_true",
                   help="mark the period as filed (its records may then be purged when old)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("doctor", help="check what can be checked now")
    p.add_argument("--config", metavar="FILE")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="a province and two communes on localhost")
    p.add_argument("--base-port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--data-dir", default=None, help="keep the demo's data here")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``diemcau`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except DiemcauError as exc:
        print(f"diemcau: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
