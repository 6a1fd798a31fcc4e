"""Classic Appion tables written by motion correction and CTF estimation.

References to Leginon rows are ``REF|leginondata|Table|key`` integer columns.
"""

from sinedon.columns import boolean, define_table, integer, real, ref, seq, text

APP = "appiondata"
LEGINON = "leginondata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


def _leginon(table, key):
    return ref(table, key, database=LEGINON)


ApPathData = _table("ApPathData", [text("path")])

ApAppionJobData = _table("ApAppionJobData", [
    ref("ApPathData", "path"), ref("ApPathData", "clusterpath"), text("name"),
    text("jobtype"), text("status"), text("cluster"), text("clusterjobid"), text("user"),
    _leginon("SessionData", "session"),
])

ScriptProgramName = _table("ScriptProgramName", [text("name")])

ScriptUserName = _table("ScriptUserName", [
    text("name"), integer("uid"), integer("gid"), text("fullname"),
])

ScriptHostName = _table("ScriptHostName", [
    text("name"), text("ip"), text("system"), text("distro"), text("arch"),
    integer("nproc"), integer("memory"), text("cpu_vendor"), text("gpu_vendor"),
])

ScriptProgramRun = _table("ScriptProgramRun", [
    text("runname"), ref("ScriptProgramName", "progname"), ref("ScriptUserName", "username"),
    ref("ScriptHostName", "hostname"), ref("ApPathData", "rundir"),
    ref("ApAppionJobData", "job"), ref("ApPathData", "appion_path"), text("unixshell"),
    text("revision"), text("python_ver"), _leginon("SessionData", "session"),
])

ScriptParamName = _table("ScriptParamName", [
    text("name"), ref("ScriptProgramName", "progname"),
])

ScriptParamValue = _table("ScriptParamValue", [
    text("value"), text("usage"), ref("ScriptParamName", "paramname"),
    ref("ScriptProgramRun", "progrun"),
])

ApAssessmentRunData = _table("ApAssessmentRunData", [
    _leginon("SessionData", "session"), text("name"),
])

ApAssessmentData = _table("ApAssessmentData", [
    ref("ApAssessmentRunData", "assessmentrun"), _leginon("AcquisitionImageData", "image"),
    boolean("selectionkeep"),
])

ApDDStackParamsData = _table("ApDDStackParamsData", [
    _leginon("PresetData", "preset"), boolean("align"), real("bin"),
    ref("ApStackData", "stack"), text("method"),
])

ApDDStackRunData = _table("ApDDStackRunData", [
    text("runname"), ref("ApDDStackParamsData", "params"), _leginon("SessionData", "session"),
    ref("ApPathData", "path"), boolean("hidden"),
])

ApDDAlignImagePairData = _table("ApDDAlignImagePairData", [
    _leginon("AcquisitionImageData", "source"), _leginon("AcquisitionImageData", "result"),
    ref("ApDDStackRunData", "ddstackrun"),
])

ApDDFrameTrajectoryData = _table("ApDDFrameTrajectoryData", [
    _leginon("AcquisitionImageData", "image"), ref("ApDDStackRunData", "ddstackrun"),
    seq("pos_x"), seq("pos_y"), real("last_x"), real("last_y"),
    integer("number_of_positions"), integer("reference_index"),
])

ApDDAlignStatsData = _table("ApDDAlignStatsData", [
    _leginon("AcquisitionImageData", "image"), ref("ApDDStackRunData", "ddstackrun"),
    real("apix"),
    real("top_shift1_value"), integer("top_shift1_index"),
    real("top_shift2_value"), integer("top_shift2_index"),
    real("top_shift3_value"), integer("top_shift3_index"),
    real("median_shift_value"), ref("ApDDFrameTrajectoryData", "trajectory"),
])

ApCtfFind4ParamsData = _table("ApCtfFind4ParamsData", [
    real("ampcontrast"), integer("fieldsize"), real("cs"), boolean("bestdb"),
    real("resmin"), real("defstep"), boolean("shift_phase"), real("min_phase_shift"),
    real("max_phase_shift"), real("phase_search_step"),
])

ApGctfParamsData = _table("ApGctfParamsData", [
    real("ampcontrast"), integer("fieldsize"), real("cs"), boolean("bestdb"),
    real("resmin"), real("resmax"), real("defstep"), integer("numstep"), real("dast"),
    boolean("do_EPA"), boolean("do_Hres_ref"), integer("mdef_aveN"),
    boolean("local_refine"), integer("local_raster"), integer("local_radius"),
    integer("local_boxsize"), real("local_overlap"), boolean("shift_phase"),
    real("min_phase_shift"), real("max_phase_shift"), real("phase_search_step"),
])

ApAceRunData = _table("ApAceRunData", [
    text("name"), _leginon("SessionData", "session"), ref("ApPathData", "path"),
    boolean("hidden"), ref("ApCtfFind4ParamsData", "ctffind4_params"),
    ref("ApGctfParamsData", "gctf_params"),
])

ApCtfData = _table("ApCtfData", [
    ref("ApAceRunData", "acerun"), _leginon("AcquisitionImageData", "image"),
    real("cs"), real("defocus1"), real("defocus2"), real("defocusinit"),
    real("amplitude_contrast"), real("angle_astigmatism"), real("extra_phase_shift"),
    real("confidence"), real("confidence_d"), real("cross_correlation"),
    real("ctffind4_resolution"), real("confidence_30_10"), real("confidence_5_peak"),
    real("overfocus_conf_30_10"), real("overfocus_conf_5_peak"),
    real("resolution_80_percent"), real("resolution_50_percent"),
    text("graph1"), text("graph2"), text("graph3"), text("graph4"), text("mat_file"),
    text("localplot"), text("localCTFstarfile"), real("tilt_angle"),
    real("tilt_axis_angle"), real("sample_thickness"),
])
