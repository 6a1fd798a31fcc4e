"""Project tables: which sessions belong to which project, and its Appion database."""

from sinedon.columns import boolean, define_table, ref, required, text

APP = "projectdata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


projects = _table("projects", [
    *required(text("name")), text("short_description"), text("long_description"),
    text("category"), text("funding"), text("leginondb"), boolean("hidden"),
])

processingdb = _table("processingdb", [
    *required(ref("projects", "project"), text("appiondb")),
])

projectexperiments = _table("projectexperiments", [
    *required(ref("projects", "project"),
              ref("SessionData", "session", database="leginondata")),
])
