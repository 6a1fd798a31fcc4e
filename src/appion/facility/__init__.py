"""``appion serve``: one service for every microscope of a facility.

It finds sessions as Leginon records them (:mod:`.discovery`), runs the configured
chain of steps for each on one shared Dask cluster (:mod:`.service`), measures how far
behind each session is (:mod:`.lag`), says so over HTTP and Prometheus (:mod:`.web`,
:mod:`.metrics`) and tells people when something is wrong (:mod:`.alerts`,
:mod:`.notify`).  Its configuration is one TOML file (:mod:`.config`).
"""
