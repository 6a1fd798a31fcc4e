"""The models carry Leginon's real table and column names and round-trip on both backends."""

import datetime

import pytest

import sinedon
from sinedon import schema
from sinedon.columns import python_name


@pytest.fixture(autouse=True, scope="module")
def configured(tmp_path_factory):
    """Django needs configuring before models can be looked at (no database is opened)."""
    sinedon.setup(config=sinedon.embedded_config(tmp_path_factory.mktemp("models")))


def columns_of(table):
    return {field.column for field in sinedon.model_for(table)._meta.concrete_fields}


def test_acquisition_image_columns_are_leginons():
    assert {"DEF_id", "DEF_timestamp", "REF|SessionData|session", "REF|PresetData|preset",
            "REF|ScopeEMData|scope", "REF|CameraEMData|camera",
            "REF|CorrectorPlanData|corrector plan", "REF|NormImageData|norm",
            "REF|DarkImageData|dark", "REF|BrightImageData|bright", "MRC|image", "filename",
            "label", "pixels", "pixeltype", "version", "correction channel",
            "SEQ|use frames", "REF|AcquisitionImageTargetData|target",
            "REF|EMTargetData|emtarget"} <= columns_of("AcquisitionImageData")


def test_camera_columns_are_leginons():
    assert {"REF|SessionData|session", "REF|InstrumentData|ccdcamera", "SUBD|dimension|x",
            "SUBD|dimension|y", "SUBD|binning|x", "SUBD|binning|y", "SUBD|offset|x",
            "SUBD|offset|y", "SUBD|pixel size|x", "SUBD|pixel size|y", "exposure time",
            "nframes", "frame time", "SEQ|use frames", "frame flip", "frame rotate",
            "eer frames", "save frames", "align frames", "tiff frames", "frames name",
            "binned multiplier", "energy filtered", "system time"
            } <= columns_of("CameraEMData")


def test_preset_columns_are_leginons():
    assert {"REF|SessionData|session", "REF|InstrumentData|tem",
            "REF|InstrumentData|ccdcamera", "name", "magnification", "defocus", "dose",
            "SUBD|dimension|x", "SUBD|binning|x", "SUBD|offset|y", "exposure time",
            "SUBD|image shift|x", "SUBD|beam shift|y", "spot size", "intensity",
            "frame time", "save frames", "align frames", "SEQ|use frames",
            "energy filter", "energy filter width"} <= columns_of("PresetData")


def test_scope_columns_are_leginons():
    assert {"REF|SessionData|session", "REF|InstrumentData|tem", "high tension",
            "magnification", "defocus", "focus", "SUBD|stage position|a",
            "SUBD|stage position|x", "SUBD|image shift|x", "SUBD|beam tilt|y",
            "spot size", "intensity", "SUBD|stigmator|SUBD|objective|x",
            "system time"} <= columns_of("ScopeEMData")


def test_appion_tables_have_classic_columns():
    assert {"REF|leginondata|AcquisitionImageData|source",
            "REF|leginondata|AcquisitionImageData|result",
            "REF|ApDDStackRunData|ddstackrun"} <= columns_of("ApDDAlignImagePairData")
    assert {"REF|ApAceRunData|acerun", "REF|leginondata|AcquisitionImageData|image",
            "defocus1", "defocus2", "angle_astigmatism", "resolution_80_percent",
            "confidence_30_10", "ctffind4_resolution"} <= columns_of("ApCtfData")
    assert {"REF|projects|project", "REF|leginondata|SessionData|session"
            } <= columns_of("projectexperiments")


def test_python_names_are_leginon_data_keys():
    assert python_name("REF|SessionData|session") == "session"
    assert python_name("SUBD|dimension|x") == "dimension_x"
    assert python_name("SEQ|use frames") == "use_frames"
    assert python_name("MRC|image") == "image"
    assert python_name("frame flip") == "frame_flip"
    assert python_name("REF|leginondata|AcquisitionImageData|image") == "image"


def test_every_expected_table_exists():
    tables = {alias: {model._meta.db_table for model in schema.models_of(alias)}
              for alias in sinedon.ALIASES}
    assert {"SessionData", "UserData", "InstrumentData", "PresetData", "ScopeEMData",
            "CameraEMData", "AcquisitionImageData", "PixelSizeCalibrationData",
            "CorrectorPlanData", "NormImageData", "DarkImageData", "BrightImageData",
            "ViewerImageStatus", "ObjIceThicknessData", "ZeroLossIceThicknessData"
            } <= tables["leginondata"]
    assert {"projects", "processingdb", "projectexperiments"} <= tables["projectdata"]
    assert {"ApPathData", "ApAppionJobData", "ScriptProgramName", "ScriptUserName",
            "ScriptHostName", "ScriptProgramRun", "ScriptParamName", "ScriptParamValue",
            "ApAssessmentRunData", "ApAssessmentData", "ApDDStackParamsData",
            "ApDDStackRunData", "ApDDAlignImagePairData", "ApDDAlignStatsData",
            "ApDDFrameTrajectoryData", "ApAceRunData", "ApCtfFind4ParamsData", "ApCtfData"
            } <= tables["appiondata"]
    assert "ApGctfParamsData" not in tables["appiondata"]


def test_round_trip_of_every_column_kind(db):
    stamp = datetime.datetime(2025, 3, 19, 13, 3, 11)
    camera_id = sinedon.insert("CameraEMData", {
        "def_timestamp": stamp, "dimension_x": 5760, "dimension_y": 4092, "binning_x": 2,
        "pixel_size_x": 2.5e-06, "frame_flip": 1, "frame_rotate": 3, "eer_frames": False,
        "tiff_frames": True, "use_frames": "(0, 1, 2)", "frames name": "20250319_09025384",
        "exposure time": 1500.0})
    row = sinedon.get("CameraEMData", {"id": camera_id})
    assert row["def_timestamp"] == stamp
    assert (row["dimension_x"], row["dimension_y"], row["binning_x"]) == (5760, 4092, 2)
    assert row["pixel_size_x"] == pytest.approx(2.5e-06)
    assert (row["frame_flip"], row["frame_rotate"]) == (1, 3)
    assert row["eer_frames"] is False and row["tiff_frames"] is True
    assert row["use_frames"] == "(0, 1, 2)"
    assert row["frames_name"] == "20250319_09025384"
    assert row["exposure_time"] == 1500.0
    assert row["offset_x"] is None


def test_rows_land_in_their_own_database(db):
    session_id = sinedon.insert("SessionData", {"name": "m25mar17a"})
    path_id = sinedon.insert("ApPathData", {"path": "/data/appion/run1"})
    from django.db import connections
    with connections["leginondata"].cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM SessionData WHERE name = %s', ["m25mar17a"])
        assert cursor.fetchone()[0] == 1
    with connections["appiondata"].cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM ApPathData')
        assert cursor.fetchone()[0] == 1
    assert session_id >= 1 and path_id >= 1
