"""The ``amulet-ai`` command (also ``python production_runner.py``).

Subcommands::

    api              the REST API under uvicorn (--host, --port, --workers, --reload)
    frontend         the Streamlit page
    all              the API, then the page once the API is ready; stops both together
    health           GET /health as an exit code: 0 ok, 1 degraded, 2 unavailable/unreachable
    config-template  print or write config_template.env, generated from the settings
    db               upgrade | current | backup FILE: the database of saved work
    keys             create --owner NAME [--scope ...] [--json] | list [--json] | revoke ID
    export-feedback  corrected and confirmed photos -> DIR/<class_id>/<front|back>/*.jpg
    test             pytest (needs the `dev` extra), arguments passed through
    train            train the model (needs the `train` extra), arguments passed through;
                     `train --localiser ...` trains the localiser instead
    evaluate         evaluate the model on a photo folder, arguments passed through;
                     `evaluate --scenes ...` measures localiser and crops on phone scenes;
                     `evaluate --enrolment` leaves one class out and enrols it
    bench            the benchmarks in bench/, arguments passed through

A passthrough command whose extra is missing still answers ``--help`` (exit 0) with the
exact install command, and a real run exits 2 with the same command. Exit status of
``all``: 0 stopped on request, 3 the API exited, 4 the page exited, 5 the API was not ready
in time. Settings come from ``AMULET_*`` variables and ``.env``
(see ``config_template.env``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from amulet_ai import __version__
from amulet_ai.config import REPO_ROOT, Settings, get_settings
from amulet_ai.logging_setup import configure_logging

if TYPE_CHECKING:
    from amulet_ai.store import KeyInfo, Store

EXIT_USAGE = 2


HELP_FLAGS = frozenset({"-h", "--help"})


def install_command(extra: str) -> str:
    """The exact command that installs ``extra`` for this interpreter and this clone.

    >>> install_command("train").endswith("[train]'")
    True
    """
    return f"{sys.executable} -m pip install -e '{REPO_ROOT}[{extra}]'"


def _missing_extra(command: str, extra: str, argv: list[str], reason: str) -> int:
    """Say what ``command`` needs; ``--help`` still answers (exit 0), a real run exits 2."""
    needs = f"`{command}` needs the '{extra}' extra ({reason}). Install it with:\n  "
    needs += install_command(extra)
    if HELP_FLAGS.intersection(argv):
        print(f"usage: amulet-ai {command} [ARGS ...]\n\n{needs}")
        return 0
    print(f"error: {needs}", file=sys.stderr)
    return EXIT_USAGE


def _import_error(exc: ImportError) -> str:
    if (exc.name or "").startswith("amulet_ai"):
        raise exc
    return f"no module named {exc.name!r}"


def _run_tests(argv: list[str]) -> int:
    from amulet_ai.ops.serve import child_env

    if importlib.util.find_spec("pytest") is None:
        return _missing_extra("test", "dev", argv, "no module named 'pytest'")
    return subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=REPO_ROOT, env=child_env())


def _run_train(argv: list[str]) -> int:
    try:
        if "--localiser" in argv:  # the localiser has its own command and arguments
            from amulet_ai.training.localise import localise_main

            return int(localise_main([a for a in argv if a != "--localiser"]))
        from amulet_ai.training.train import train_main
    except ImportError as exc:
        return _missing_extra("train", "train", argv, _import_error(exc))
    return int(train_main(argv))


def _run_evaluate(argv: list[str]) -> int:
    try:
        if "--enrolment" in argv:  # leave one class out and enrol it: the model card figures
            from amulet_ai.training.enrolment_eval import enrolment_main

            return int(enrolment_main([a for a in argv if a != "--enrolment"]))
        if "--scenes" in argv:  # phone-style scenes: localiser and crop classifier figures
            from amulet_ai.training.crops import crops_main

            return int(crops_main([a for a in argv if a != "--scenes"]))
        from amulet_ai.training.evaluate import evaluate_main
    except ImportError as exc:
        return _missing_extra("evaluate", "train", argv, _import_error(exc))
    return int(evaluate_main(argv))


def _run_bench(argv: list[str]) -> int:
    from amulet_ai.ops.serve import child_env

    entry = REPO_ROOT / "bench" / "run.py"
    if not entry.is_file():
        print(f"error: {entry} not found; run this from a clone of the repository", file=sys.stderr)
        return EXIT_USAGE
    env = child_env()
    # bench/ imports its own modules as the `bench` package from the repository root.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env["PYTHONPATH"]])
    return subprocess.call([sys.executable, str(entry), *argv], cwd=REPO_ROOT, env=env)


# Commands whose arguments belong to another program: argparse must not read them.
PASSTHROUGH: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "test": (_run_tests, "run pytest; arguments go to pytest"),
    "train": (_run_train, "train the model; see `train --help`"),
    "evaluate": (_run_evaluate, "evaluate the model; see `evaluate --help`"),
    "bench": (_run_bench, "run the benchmarks in bench/; see `bench --help`"),
}


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.ops.serve import serve_api

    return serve_api(
        settings, host=args.host, port=args.port, workers=args.workers, reload=args.reload
    )


def _cmd_frontend(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.ops.supervisor import run_frontend

    return run_frontend(settings, host=args.host, port=args.port)


def _cmd_all(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.ops.supervisor import run_all

    return run_all(settings, ready_timeout_s=args.ready_timeout)


def _cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.ops.health_probe import probe_health, summary_line

    key = settings.frontend_api_key.get_secret_value() if settings.frontend_api_key else None
    probe = probe_health(args.url or settings.public_url, timeout_s=args.timeout, api_key=key)
    if args.json:
        print(json.dumps(probe.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(summary_line(probe))
    return probe.exit_code


def _cmd_config_template(args: argparse.Namespace, _settings: Settings | None) -> int:
    from amulet_ai.ops.config_template import render_template

    text = render_template()
    if args.check:
        current = args.check.read_text(encoding="utf-8") if args.check.is_file() else ""
        if current != text:
            print(f"{args.check} is out of date: run `amulet-ai config-template`", file=sys.stderr)
            return 1
        return 0
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _open_store(settings: Settings) -> Store:
    from amulet_ai.store import Store

    return Store.from_settings(settings)


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.store import current, head, upgrade

    store = _open_store(settings)
    try:
        if args.action == "upgrade":
            upgrade(store.db)
            print(f"{store.db.display_url}: at revision {current(store.db)} (head {head()})")
        elif args.action == "current":
            at = current(store.db)
            state = "up to date" if at == head() else f"behind head {head()}: run `db upgrade`"
            print(f"{store.db.display_url}: revision {at or 'none'} ({state})")
            return 0 if at == head() else 1
        else:
            if args.file is None:
                print("error: db backup needs a FILE", file=sys.stderr)
                return EXIT_USAGE
            try:
                store.backup(args.file)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"backed up {store.db.display_url} to {args.file}")
    finally:
        store.close()
    return 0


def _key_json(info: KeyInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "owner": info.owner,
        "prefix": info.prefix,
        "scopes": list(info.scopes),
        "created_at": info.created_at.isoformat(),
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.errors import AmuletError
    from amulet_ai.store import upgrade

    store = _open_store(settings)
    try:
        if store.db.is_sqlite:
            upgrade(store.db)
        if args.action == "create":
            made = store.keys.create(args.owner, args.scope or ("predict", "collection"))
            if args.json:
                line = {"owner": made.info.owner, "key": made.key, "scopes": list(made.info.scopes)}
                print(json.dumps(line))
            else:
                print(made.key)
                print(
                    f"owner {made.info.owner}, scopes {' '.join(made.info.scopes)}, id "
                    f"{made.info.id}; the key is shown once only",
                    file=sys.stderr,
                )
        elif args.action == "list":
            keys = store.keys.list()
            if args.json:
                print(json.dumps([_key_json(k) for k in keys], indent=2))
            for k in [] if args.json else keys:
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
                print(f"{k.id:>4}  {k.prefix}...  {k.owner:<20} {','.join(k.scopes):<26} "
                      f"created {k.created_at:%Y-%m-%d %H:%M}  used {used}  {state}")  # fmt: skip
        else:
            revoked = store.keys.revoke(args.key_id)
            print(f"revoked key {revoked.id} ({revoked.prefix}...) of {revoked.owner}")
    except AmuletError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _cmd_export_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from amulet_ai.store import export_feedback

    store = _open_store(settings)
    try:
        manifest = export_feedback(store.db, args.out)
    finally:
        store.close()
    print(
        f"wrote {manifest['photos']} photos to {args.out} (skipped {len(manifest['skipped'])}); "
        f"train on them with: production_runner.py train --data DATA --data {args.out} --out DIR"
    )
    return 0


def _add_store_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser(
        "db",
        help="the database of saved work: upgrade, current, backup FILE",
        epilog="SQLite databases are also upgraded when the API starts; PostgreSQL only here. "
        "backup copies a SQLite file while it is in use; for PostgreSQL use pg_dump.",
    )
    db.add_argument("action", choices=("upgrade", "current", "backup"))
    db.add_argument("file", nargs="?", type=Path, help="backup: the file to write")
    db.set_defaults(handler=_cmd_db)

    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key (printed once)")
    create.add_argument("--owner", required=True, help="who the key's saved work belongs to")
    create.add_argument(
        "--scope",
        action="append",
        choices=("predict", "collection", "admin"),
        help="repeat for several (default: predict and collection)",
    )
    create.add_argument("--json", action="store_true", help='one line {"owner","key","scopes"}')
    listing = actions.add_parser("list", help="every key (never the key itself)")
    listing.add_argument("--json", action="store_true", help="as JSON")
    revoke = actions.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key_id", metavar="ID_OR_PREFIX")
    keys.set_defaults(handler=_cmd_keys)

    export = sub.add_parser(
        "export-feedback",
        help="corrected and confirmed photos in the training layout, with a manifest",
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write")
    export.set_defaults(handler=_cmd_export_feedback)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (passthrough ones are listed for --help)."""
    parser = argparse.ArgumentParser(
        prog="amulet-ai",
        description="Amulet-AI: serve, check, train and measure the amulet photo classifier.",
        epilog="Settings: AMULET_* environment variables or .env; see config_template.env.",
    )
    parser.add_argument("--version", action="version", version=f"amulet-ai {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    api = sub.add_parser("api", help="run the REST API (uvicorn)")
    api.add_argument("--host", help="bind address (default: AMULET_HOST)")
    api.add_argument("--port", type=int, help="port (default: AMULET_PORT)")
    api.add_argument("--workers", type=int, help="worker processes (default: AMULET_WORKERS)")
    api.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    api.set_defaults(handler=_cmd_api)

    page = sub.add_parser("frontend", help="run the Streamlit page")
    page.add_argument("--host", help="bind address (default: AMULET_FRONTEND_HOST)")
    page.add_argument("--port", type=int, help="port (default: AMULET_FRONTEND_PORT)")
    page.set_defaults(handler=_cmd_frontend)

    both = sub.add_parser(
        "all",
        help="run the API and the page together",
        epilog="Exit status: 0 stopped on request, 3 the API exited, 4 the page exited, "
        "5 the API was not ready in time.",
    )
    both.add_argument(
        "--ready-timeout", type=float, default=120.0, help="seconds to wait for the API (120)"
    )
    both.set_defaults(handler=_cmd_all)

    health = sub.add_parser(
        "health",
        help="check GET /health; exit 0 ok, 1 degraded, 2 unavailable or unreachable",
    )
    health.add_argument("--url", help="API base URL (default: AMULET_PUBLIC_URL)")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds (3)")
    health.add_argument("--json", action="store_true", help="print the full report as JSON")
    health.set_defaults(handler=_cmd_health)

    template = sub.add_parser(
        "config-template", help="print or write config_template.env, generated from the settings"
    )
    target = template.add_mutually_exclusive_group()
    target.add_argument("--output", type=Path, help="file to write (default: print)")
    target.add_argument(
        "--check", type=Path, metavar="FILE", help="exit 1 if FILE differs from the settings"
    )
    template.set_defaults(handler=_cmd_config_template, needs_settings=False)

    _add_store_commands(sub)

    for name, (_, help_text) in PASSTHROUGH.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PASSTHROUGH:
        configure_logging()
        runner, _ = PASSTHROUGH[args_list[0]]
        return runner(args_list[1:])
    args = build_parser().parse_args(args_list)
    if not getattr(args, "needs_settings", True):
        configure_logging()
        return int(args.handler(args, None))
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"error: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    return int(args.handler(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
