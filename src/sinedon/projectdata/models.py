"""Project tables: which sessions belong to which project, and its Appion database."""

from sinedon.columns import boolean, define_table, ref, text

APP = "projectdata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


projects = _table("projects", [
    text("name"), text("short_description"), text("long_description"), text("category"),
    text("funding"), boolean("hidden"),
])

processingdb = _table("processingdb", [
    ref("projects", "project"), text("appiondb"),
])

projectexperiments = _table("projectexperiments", [
    ref("projects", "project"), ref("SessionData", "session", database="leginondata"),
])
