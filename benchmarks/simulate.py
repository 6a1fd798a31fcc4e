"""Full-size simulator speed and memory: one K3 (5760×4092×40 LZW TIFF) and one Falcon 4
EER (4096×4096×800 raw frames) exposure, each in a fresh process.

Prints JSON: per camera the wall time of one exposure (references excluded), the
movie size and the peak resident memory of the process.  Usage::

    python benchmarks/simulate.py [--cameras k3 falcon4-eer] [--size full]

``APPION_BENCH_QUICK=1`` simulates small exposures instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_camera(camera: str, size: str, workdir: Path) -> dict:
    import sinedon
    from appion.simulation import add_exposure, start_session
    from sinedon import schema
    schema.init_all(1, config=sinedon.embedded_config(workdir / "home"))
    started = time.perf_counter()
    session = start_session(workdir / "data", "bench", camera, size=size, extras=False)
    references_s = time.perf_counter() - started
    started = time.perf_counter()
    exposure = add_exposure(session, 0)
    exposure_s = time.perf_counter() - started
    truth = exposure.truth
    return {"camera": camera, "size": size, "frame_shape": truth["frame_shape"],
            "nframes": truth["nframes"], "movie_format": truth["movie_format"],
            "exposure_wall_s": round(exposure_s, 2),
            "references_wall_s": round(references_s, 2),
            "movie_mb": round(exposure.movie_path.stat().st_size / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", nargs="+", default=["k3", "falcon4-eer"])
    parser.add_argument("--size", default="full", choices=("small", "full"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.environ.get("APPION_BENCH_QUICK") == "1":  # benchmarks/run_all.py --quick
        args.size = "small"
    if args.one:
        with tempfile.TemporaryDirectory() as workdir:
            print(json.dumps(one_camera(args.one, args.size, Path(workdir))))
        return
    results = []
    for camera in args.cameras:  # a fresh process each, so peak RSS is per camera
        output = subprocess.run([sys.executable, __file__, "--one", camera, "--size", args.size],
                                check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "simulate", "results": results}, indent=1))


if __name__ == "__main__":
    main()
