"""``appion db init`` and ``appion db check``: create and verify the tables."""

from __future__ import annotations

import argparse

CHOICES = {"leginon": "leginondata", "project": "projectdata", "appion": "appiondata"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("db", help="create or check the database tables")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for action, help_text in (("init", "create missing tables (never alters existing ones)"),
                              ("check", "list expected tables/columns a database lacks")):
        sub = actions.add_parser(action, help=help_text)
        sub.add_argument("--database", choices=[*CHOICES, "all"], default="all")
        sub.add_argument("--project", type=int, metavar="N",
                         help="project id (selects its Appion database)")
        sub.set_defaults(func=run_init if action == "init" else run_check)


def _aliases(choice: str) -> list[str]:
    return list(CHOICES.values()) if choice == "all" else [CHOICES[choice]]


def run_init(args: argparse.Namespace) -> int:
    import sinedon
    from sinedon import schema
    aliases = _aliases(args.database)
    sinedon.setup()
    # the project database first: the Appion database's name may be registered there
    for alias in [a for a in aliases if a != sinedon.APPION]:
        _print_init(schema.init_database(alias))
    if sinedon.APPION in aliases:
        sinedon.setup(projectid=args.project)
        _print_init(schema.init_database(sinedon.APPION))
    return 0


def _print_init(report) -> None:
    created = ", ".join(report.created) if report.created else "nothing"
    print(f"{report.alias}: {report.location}: created {len(report.created)} table(s)"
          f" ({created}); {len(report.existing)} already present")


def run_check(args: argparse.Namespace) -> int:
    import sinedon
    from sinedon import schema
    sinedon.setup(projectid=args.project)
    missing_any = False
    for alias in _aliases(args.database):
        location = sinedon.current_config().databases[alias].describe()
        shortfalls = schema.check_database(alias)
        missing = [shortfall for shortfall in shortfalls if shortfall.needed_by is None]
        if missing:
            missing_any = True
            _print_shortfalls(f"{alias}: {location}: missing {len(missing)}", missing)
        else:
            print(f"{alias}: {location}: complete")
            absent = schema.absent_optional_columns(alias)
            if absent:
                print(f"  optional columns this version lacks (not written, read as "
                      f"empty): {', '.join(absent)}")
        for feature in sorted({s.needed_by for s in shortfalls if s.needed_by}):
            _print_shortfalls(f"  tables only {feature} needs are missing (create them "
                              "with 'appion db init' before using it)",
                              [s for s in shortfalls if s.needed_by == feature])
    if missing_any:
        print("an administrator can run the statements above; 'appion db init' creates "
              "missing tables only (it never alters a table)")
    return 1 if missing_any else 0


def _print_shortfalls(heading: str, shortfalls: list) -> None:
    print(f"{heading}: " + ", ".join(shortfall.describe() for shortfall in shortfalls))
    for shortfall in shortfalls:
        print(f"  {shortfall.statement}")
