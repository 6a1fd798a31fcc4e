"""Leginon tables read (and, for aligned images, written) by Appion preprocessing.

Column names are Leginon's own; see :mod:`sinedon.columns` for how they map to
Python names.  Only the columns Appion reads or writes, plus the ones the
simulator needs to look like Leginon, are declared.
"""

from sinedon.columns import boolean, define_table, integer, mrc, real, ref, seq, subd, text

APP = "leginondata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


UserData = _table("UserData", [
    text("username"), text("firstname"), text("lastname"), text("email"),
    ref("GroupData", "group"), boolean("noleginon"),
])

SessionData = _table("SessionData", [
    text("name"), text("comment"), text("image path"), text("frame path"),
    ref("UserData", "user"), ref("InstrumentData", "instrument"),
    ref("GridHolderData", "holder"), boolean("hidden"),
])

InstrumentData = _table("InstrumentData", [
    text("name"), text("description"), text("hostname"), real("cs"), real("pixelmax"),
    boolean("hidden"),
])

PresetData = _table("PresetData", [
    ref("SessionData", "session"), ref("InstrumentData", "tem"),
    ref("InstrumentData", "ccdcamera"),
    text("name"), integer("number"), integer("magnification"), integer("spot size"),
    real("intensity"), *subd("image shift"), *subd("beam shift"), *subd("diffraction shift"),
    real("defocus"), real("defocus range min"), real("defocus range max"),
    *subd("dimension", kind="int"), *subd("binning", kind="int"), *subd("offset", kind="int"),
    real("exposure time"), real("pre exposure"), real("dose"),
    boolean("energy filter"), real("energy filter width"), real("energy filter offset"),
    boolean("tem energy filter"), real("tem energy filter width"),
    boolean("removed"), boolean("hasref"), boolean("skip"), boolean("alt channel"),
    boolean("save frames"), boolean("align frames"), text("align filter"),
    real("frame time"), seq("use frames"), integer("readout delay"), boolean("fast save"),
    boolean("use cds"), text("probe mode"), text("projection mode"),
])

ScopeEMData = _table("ScopeEMData", [
    ref("SessionData", "session"), ref("InstrumentData", "tem"), real("system time"),
    integer("magnification"), integer("main screen magnification"), integer("spot size"),
    real("intensity"), real("defocus"), real("focus"), real("high tension"),
    *subd("image shift"), *subd("beam shift"), *subd("beam tilt"),
    *subd("diffraction shift"), *subd("stage position", members="xyzab"),
    real("SUBD|stigmator|condenser|x"), real("SUBD|stigmator|condenser|y"),
    real("SUBD|stigmator|objective|x"), real("SUBD|stigmator|objective|y"),
    real("SUBD|stigmator|diffraction|x"), real("SUBD|stigmator|diffraction|y"),
    real("screen current"), text("main screen position"), text("small screen position"),
    text("probe mode"), text("projection mode"), real("column pressure"),
    real("exp wait time"), boolean("corrected stage position"),
    boolean("tem energy filtered"),
])

CameraEMData = _table("CameraEMData", [
    ref("SessionData", "session"), ref("InstrumentData", "ccdcamera"), real("system time"),
    *subd("dimension", kind="int"), *subd("binning", kind="int"), *subd("offset", kind="int"),
    *subd("pixel size"), real("binned multiplier"),
    real("exposure time"), text("exposure type"), real("exposure timestamp"),
    boolean("inserted"), boolean("energy filtered"), boolean("energy filter"),
    real("energy filter width"), integer("nframes"), boolean("save frames"),
    boolean("align frames"), text("align filter"), real("frame time"), text("frames name"),
    seq("use frames"), integer("frame flip"), integer("frame rotate"),
    integer("readout delay"), boolean("system corrected"), boolean("system dark subtracted"),
    boolean("intensity averaged"), boolean("tiff frames"), boolean("eer frames"),
    boolean("fast save"), boolean("use cds"), boolean("frame gain corrected"),
    boolean("sum gain corrected"),
])

_corrector_image = [
    ref("SessionData", "session"), ref("CameraEMData", "camera"), ref("ScopeEMData", "scope"),
    mrc("image"), text("filename"), text("label"), integer("pixels"), text("pixeltype"),
    integer("channel"), seq("use frames"),
]

DarkImageData = _table("DarkImageData", _corrector_image)

BrightImageData = _table("BrightImageData", _corrector_image)

NormImageData = _table("NormImageData", [
    *_corrector_image, ref("BrightImageData", "bright"), ref("DarkImageData", "dark"),
    boolean("denoised"),
])

CorrectorPlanData = _table("CorrectorPlanData", [
    ref("SessionData", "session"), ref("CameraEMData", "camera"),
    seq("bad_rows"), seq("bad_cols"), seq("bad_pixels"), seq("clip_limits"),
    boolean("despike"), integer("despike size"), real("despike threshold"),
])

PixelSizeCalibrationData = _table("PixelSizeCalibrationData", [
    ref("SessionData", "session"), ref("InstrumentData", "tem"),
    ref("InstrumentData", "ccdcamera"), integer("magnification"), real("pixelsize"),
    text("comment"),
])

AcquisitionImageData = _table("AcquisitionImageData", [
    ref("SessionData", "session"), ref("PresetData", "preset"), ref("ScopeEMData", "scope"),
    ref("CameraEMData", "camera"), ref("CorrectorPlanData", "corrector plan"),
    ref("NormImageData", "norm"), ref("DarkImageData", "dark"),
    ref("BrightImageData", "bright"), ref("AcquisitionImageTargetData", "target"),
    ref("EMTargetData", "emtarget"), ref("ImageListData", "list"),
    ref("MoverParamsData", "mover"), ref("GridData", "grid"),
    mrc("image"), text("filename"), text("label"), integer("pixels"), text("pixeltype"),
    integer("version"), integer("correction channel"), seq("use frames"),
])

ViewerImageStatus = _table("ViewerImageStatus", [
    ref("SessionData", "session"), ref("AcquisitionImageData", "image"), text("status"),
])

ObjIceThicknessData = _table("ObjIceThicknessData", [
    ref("AcquisitionImageData", "image"), real("vacuum intensity"), real("mfp"),
    real("intensity"), real("thickness"),
])

ZeroLossIceThicknessData = _table("ZeroLossIceThicknessData", [
    ref("AcquisitionImageData", "image"), real("no slit mean"), real("no slit sd"),
    real("slit mean"), real("slit sd"), real("thickness"),
])
