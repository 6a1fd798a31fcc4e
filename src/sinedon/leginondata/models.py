"""Leginon tables read (and, for aligned images, written) by Appion preprocessing.

Column names and types are production Leginon's (``tests/data/production-schema``).
Only the columns Appion reads or writes, plus the ones the simulator needs to look
like Leginon, are declared; ``required`` marks those Appion cannot work without
(every other column may be absent in a site's version of Leginon).  Aligned images
are copied from their source rows whole, every real column kept, declared or not.
"""

from sinedon.columns import (
    boolean,
    define_table,
    integer,
    mrc,
    real,
    ref,
    required,
    seq,
    subd,
    text,
)

APP = "leginondata"


def _table(name, specs):
    return define_table(APP, name, specs, __name__)


GroupData = _table("GroupData", [text("name"), text("description")])

UserData = _table("UserData", [
    text("username"), text("firstname"), text("lastname"), text("email"),
    ref("GroupData", "group"), boolean("noleginon"),
])

GridHolderData = _table("GridHolderData", [text("name")])

SessionData = _table("SessionData", [
    *required(text("name"), text("image path"), text("frame path")),
    text("comment"), ref("UserData", "user"), ref("GridHolderData", "holder"),
    boolean("hidden"), integer("uid"), integer("gid"),
])

InstrumentData = _table("InstrumentData", [
    *required(text("name")), text("description"), text("hostname"), real("cs"),
    integer("pixelmax"), boolean("hidden"),
])

PresetData = _table("PresetData", [
    *required(ref("SessionData", "session"), text("name")),
    ref("InstrumentData", "tem"), ref("InstrumentData", "ccdcamera"),
    integer("number"), integer("magnification"), integer("spot size"),
    real("intensity"), *subd("image shift"), *subd("beam shift"), *subd("diffraction shift"),
    real("defocus"), real("defocus range min"), real("defocus range max"),
    *subd("dimension", kind="int"), *subd("binning", kind="int"), *subd("offset", kind="int"),
    real("exposure time"), real("pre exposure"), real("dose"),
    boolean("energy filter"), real("energy filter width"), real("energy filter offset"),
    boolean("tem energy filter"), real("tem energy filter width"),
    boolean("removed"), boolean("hasref"), boolean("skip"), boolean("alt channel"),
    boolean("save frames"), boolean("align frames"), text("align filter"),
    real("frame time"), integer("request nframes"), seq("use frames"),
    integer("readout delay"), boolean("fast save"), boolean("use cds"), text("probe mode"),
    text("projection mode"),
    *subd("aperture size", members=("condenser_2", "objective", "selected area")),
])

ScopeEMData = _table("ScopeEMData", [
    *required(ref("SessionData", "session"), integer("high tension")),
    ref("InstrumentData", "tem"), real("system time"),
    integer("magnification"), integer("main screen magnification"), integer("spot size"),
    real("intensity"), real("defocus"), real("focus"),
    *subd("image shift"), *subd("beam shift"), *subd("beam tilt"),
    *subd("diffraction shift"), *subd("stage position", members="xyzab"),
    *subd("stigmator|condenser"), *subd("stigmator|objective"),
    *subd("stigmator|diffraction"),
    real("screen current"), text("main screen position"), text("small screen position"),
    text("probe mode"), text("projection mode"), real("column pressure"),
    real("exp wait time"), integer("corrected stage position"),
    boolean("tem energy filtered"),
])

CameraEMData = _table("CameraEMData", [
    *required(ref("SessionData", "session"), ref("InstrumentData", "ccdcamera"),
              *subd("dimension", kind="int"), *subd("binning", kind="int"),
              *subd("offset", kind="int"), integer("nframes"), real("exposure time"),
              real("frame time"), text("frames name"), seq("use frames")),
    real("system time"), *subd("pixel size"), real("binned multiplier"),
    text("exposure type"), real("exposure timestamp"),
    boolean("inserted"), boolean("energy filtered"), boolean("energy filter"),
    real("energy filter width"), boolean("save frames"),
    boolean("align frames"), text("align filter"),
    boolean("frame flip"), integer("frame rotate"),
    integer("readout delay"), boolean("system corrected"), boolean("system dark subtracted"),
    boolean("intensity averaged"), boolean("tiff frames"), boolean("eer frames"),
    boolean("fast save"), boolean("use cds"), boolean("frame gain corrected"),
    boolean("sum gain corrected"), integer("request nframes"), real("temperature"),
    text("temperature status"), integer("gain index"),
])

_corrector_image = [
    *required(ref("SessionData", "session"), mrc("image")),
    ref("CameraEMData", "camera"), ref("ScopeEMData", "scope"),
    text("filename"), text("label"), integer("pixels"), text("pixeltype"),
    integer("channel"), boolean("denoised"), seq("use frames"),
]

DarkImageData = _table("DarkImageData", _corrector_image)

BrightImageData = _table("BrightImageData", _corrector_image)

NormImageData = _table("NormImageData", [
    *_corrector_image, ref("BrightImageData", "bright"), ref("DarkImageData", "dark"),
])

CorrectorPlanData = _table("CorrectorPlanData", [
    ref("SessionData", "session"), ref("CameraEMData", "camera"),
    seq("bad_rows"), seq("bad_cols"), seq("bad_pixels"), seq("clip_limits"),
    boolean("despike"), integer("despike size"), real("despike threshold"),
])

PixelSizeCalibrationData = _table("PixelSizeCalibrationData", [
    *required(ref("InstrumentData", "tem"), ref("InstrumentData", "ccdcamera"),
              integer("magnification"), real("pixelsize")),
    ref("SessionData", "session"), text("comment"),
])

AcquisitionImageData = _table("AcquisitionImageData", [
    *required(ref("SessionData", "session"), ref("PresetData", "preset"),
              ref("ScopeEMData", "scope"), ref("CameraEMData", "camera"),
              mrc("image"), text("filename")),
    ref("CorrectorPlanData", "corrector plan"),
    ref("NormImageData", "norm"), ref("DarkImageData", "dark"),
    ref("BrightImageData", "bright"), ref("AcquisitionImageTargetData", "target"),
    ref("EMTargetData", "emtarget"), ref("ImageListData", "list"),
    ref("MoverParamsData", "mover"), ref("GridData", "grid"),
    ref("TiltSeriesData", "tilt series"), integer("tiltnumber"),
    ref("PhasePlateUsageData", "phase plate"), ref("SpotWellMapData", "spotmap"),
    ref("QueueData", "queue"), integer("channel"), boolean("denoised"),
    text("label"), integer("pixels"), text("pixeltype"),
    integer("version"), integer("correction channel"), seq("use frames"),
])

ViewerImageStatus = _table("ViewerImageStatus", [
    *required(ref("SessionData", "session"), ref("AcquisitionImageData", "image"),
              text("status")),
])

ObjIceThicknessData = _table("ObjIceThicknessData", [
    ref("AcquisitionImageData", "image"), real("vacuum intensity"), real("mfp"),
    real("intensity"), real("thickness"),
])

ZeroLossIceThicknessData = _table("ZeroLossIceThicknessData", [
    ref("AcquisitionImageData", "image"), real("no slit mean"), real("no slit sd"),
    real("slit mean"), real("slit sd"), real("thickness"),
])
