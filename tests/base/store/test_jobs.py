"""Job row values without a database: the integer cluster job id and the jobtypes."""

import pytest

from appion.base.store.jobs import default_jobtype, parse_cluster_job_id


@pytest.mark.parametrize("value, expected", [
    ("30157838", 30157838), (" 42\n", 42), (4242, 4242),
    ("30157838.batch", None), ("12345.server.edu", None), ("", None), (None, None),
    ("-1", None), ("²", None),
])
def test_cluster_job_id_is_an_integer_or_null(value, expected):
    assert parse_cluster_job_id(value) == expected


@pytest.mark.parametrize("function_name, jobtype", [
    ("makeDDAlignMotionCor2_UCSF", "makeddrawframestack"), ("ctffind4", "ctfestimate"),
    ("gctf", "gctf"), ("appion-pipeline", "appionpipeline"), ("myScript", "myscript"),
])
def test_default_jobtypes_are_the_classic_webs(function_name, jobtype):
    assert default_jobtype(function_name) == jobtype
