"""Classic Appion tables written by motion correction and CTF estimation.

Column names and types are production's (``tests/data/production-schema``: SEMC's
server and classic ``appionlib.appiondata``).  References to Leginon rows are
``REF|leginondata|Table|key`` integer columns.  Columns marked ``required`` are the
ones Appion cannot do without; the others (present in some Appion versions only)
are written when the site's table has them.
"""

from sinedon.columns import boolean, define_table, integer, real, ref, required, seq, text

APP = "appiondata"
LEGINON = "leginondata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


def _leginon(table, key):
    return ref(table, key, database=LEGINON)


ApPathData = _table("ApPathData", required(text("path")))

ApAppionJobData = _table("ApAppionJobData", [
    *required(ref("ApPathData", "path"), text("name"), text("jobtype"), text("status"),
              _leginon("SessionData", "session")),
    ref("ApPathData", "clusterpath"), ref("ApPathData", "dmfpath"), text("cluster"),
    integer("clusterjobid"), text("user"),
])

ScriptProgramName = _table("ScriptProgramName", required(text("name")))

ScriptUserName = _table("ScriptUserName", [
    *required(text("name")), integer("uid"), integer("gid"), text("fullname"),
])

ScriptHostName = _table("ScriptHostName", [
    *required(text("name")), text("ip"), text("system"), text("distro"), text("arch"),
    integer("nproc"), integer("memory"), text("cpu_vendor"), text("gpu_vendor"),
])

ScriptProgramRun = _table("ScriptProgramRun", [
    *required(text("runname"), ref("ScriptProgramName", "progname"),
              ref("ApPathData", "rundir")),
    ref("ScriptUserName", "username"), ref("ScriptHostName", "hostname"),
    ref("ApAppionJobData", "job"), ref("ApPathData", "appion_path"), text("unixshell"),
    text("revision"),
])

ScriptParamName = _table("ScriptParamName", required(
    text("name"), ref("ScriptProgramName", "progname")))

ScriptParamValue = _table("ScriptParamValue", [
    *required(text("value"), ref("ScriptParamName", "paramname"),
              ref("ScriptProgramRun", "progrun")),
    text("usage"),
])

ApAssessmentRunData = _table("ApAssessmentRunData", required(
    _leginon("SessionData", "session"), text("name")))

ApAssessmentData = _table("ApAssessmentData", required(
    ref("ApAssessmentRunData", "assessmentrun"), _leginon("AcquisitionImageData", "image"),
    integer("selectionkeep")))

ApStackData = _table("ApStackData", [
    ref("ApPathData", "path"), text("name"), text("description"), boolean("hidden"),
    real("pixelsize"), integer("boxsize"),
])

ApDDStackParamsData = _table("ApDDStackParamsData", [
    *required(text("preset"), boolean("align"), integer("bin"), text("method")),
    ref("ApStackData", "stack"), ref("ApDDStackRunData", "unaligned_ddstackrun"),
])

ApDDStackRunData = _table("ApDDStackRunData", required(
    text("runname"), ref("ApDDStackParamsData", "params"), _leginon("SessionData", "session"),
    ref("ApPathData", "path")))

ApDDAlignImagePairData = _table("ApDDAlignImagePairData", required(
    _leginon("AcquisitionImageData", "source"), _leginon("AcquisitionImageData", "result"),
    ref("ApDDStackRunData", "ddstackrun")))

ApDDFrameTrajectoryData = _table("ApDDFrameTrajectoryData", [
    *required(_leginon("AcquisitionImageData", "image"), ref("ApDDStackRunData", "ddstackrun"),
              seq("pos_x"), seq("pos_y")),
    real("last_x"), real("last_y"), integer("number_of_positions"),
    integer("reference_index"),
])

ApDDAlignStatsData = _table("ApDDAlignStatsData", [
    *required(_leginon("AcquisitionImageData", "image"),
              ref("ApDDStackRunData", "ddstackrun"), real("apix"),
              real("top_shift1_value"), integer("top_shift1_index"),
              real("top_shift2_value"), integer("top_shift2_index"),
              real("top_shift3_value"), integer("top_shift3_index"),
              real("median_shift_value")),
    ref("ApDDFrameTrajectoryData", "trajectory"),
])

ApCtfFind4ParamsData = _table("ApCtfFind4ParamsData", [
    *required(real("ampcontrast"), integer("fieldsize"), real("cs"), boolean("bestdb"),
              real("resmin"), real("defstep")),
    boolean("shift_phase"), real("min_phase_shift"), real("max_phase_shift"),
    real("phase_search_step"), boolean("local_refine"),
])

ApAceRunData = _table("ApAceRunData", [
    *required(text("name"), _leginon("SessionData", "session"), ref("ApPathData", "path"),
              ref("ApCtfFind4ParamsData", "ctffind4_params")),
    boolean("hidden"),
])

ApCtfData = _table("ApCtfData", [
    *required(ref("ApAceRunData", "acerun"), _leginon("AcquisitionImageData", "image"),
              real("cs"), real("defocus1"), real("defocus2"), real("defocusinit"),
              real("amplitude_contrast"), real("angle_astigmatism"), real("confidence"),
              real("confidence_d")),
    real("extra_phase_shift"), real("cross_correlation"),
    real("ctffind4_resolution"), real("confidence_30_10"), real("confidence_5_peak"),
    real("overfocus_conf_30_10"), real("overfocus_conf_5_peak"),
    real("resolution_80_percent"), real("resolution_50_percent"),
    text("graph1"), text("graph2"), text("graph3"), text("graph4"), text("mat_file"),
    text("localplot"), text("localCTFstarfile"), real("tilt_angle"),
    real("tilt_axis_angle"),
])

# Particle picking (classic particleLoop2 / dogPicker.py): the run, its parameters
# (ApDogParamsData for DoG, ApSelectionParamsData for other pickers) and one
# ApParticleData row per particle, coordinates in unbinned pixels of the micrograph.
_SELECTION_PARAMS = [
    integer("diam"), integer("bin"), real("manual_thresh"), integer("lp_filt"),
    integer("hp_filt"), integer("invert"), integer("max_peaks"), real("max_threshold"),
    integer("median"), real("pixel_value_limit"), integer("maxsize"),
    boolean("defocal_pairs"), real("overlapmult"),
]

ApSelectionParamsData = _table("ApSelectionParamsData", _SELECTION_PARAMS)

ApDogParamsData = _table("ApDogParamsData", [
    *_SELECTION_PARAMS, real("kfactor"), real("size_range"), integer("num_slices"),
])

ApSelectionRunData = _table("ApSelectionRunData", [
    *required(text("name"), _leginon("SessionData", "session"), ref("ApPathData", "path")),
    boolean("hidden"), text("description"), text("program"),
    ref("ApSelectionParamsData", "params"), ref("ApDogParamsData", "dogparams"),
    ref("ApManualParamsData", "manparams"), ref("ApTiltAlignParamsData", "tiltparams"),
])

ApParticleData = _table("ApParticleData", [
    *required(ref("ApSelectionRunData", "selectionrun"),
              _leginon("AcquisitionImageData", "image"), integer("xcoord"),
              integer("ycoord")),
    real("angle"), real("correlation"), ref("ApTemplateImageData", "template"),
    real("peakmoment"), real("peakstddev"), integer("peakarea"), real("diameter"),
    text("label"), integer("helixnum"),
])

#: Tables only some steps need, and what needs them: a database without them is complete
#: for everything else (``appion db check``); ``appion db init`` creates them.
TABLES_NEEDED_ONLY_BY = {table: "particle picking" for table in (
    "ApSelectionParamsData", "ApDogParamsData", "ApSelectionRunData", "ApParticleData")}
