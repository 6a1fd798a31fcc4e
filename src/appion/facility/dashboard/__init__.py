"""The web dashboard of ``appion serve``: pages for people, beside the JSON API.

:mod:`.auth` logs people in (passwords from facility.toml, a signed session cookie, a
CSRF token per login); :mod:`.views` renders the pages (Django templates of this
package) and serves the package's static files and Plotly's own ``plotly.min.js``.
"""
