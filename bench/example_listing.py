"""The example listing's cost beside the per-example work ImageExampleGen does anyway.

On a class-per-folder tree of images (bench/digits.py, or --data), in one
process, CPU seconds of:

1. check + build: what every example costs without the listing (decode-check
   in batches as the Beam stage does, then the tf.Example);
2. the listing's lines: TFX's split of each built example and its JSON line;
3. gathering: the staged lines sorted, gzipped and written (executor side);
4. ImageChecks reading the listing back, when no image repeats (the file is
   not opened) and when every image does (all rows parsed).

Prints each with its ratio to (1) and the listing's size. The end-to-end A/B
is bench/ingest_throughput.py --against; on a shared machine its noise is
larger than this cost, which is why the parts are timed here.

    python bench/example_listing.py [--data TREE | --count 10000]
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(data: str, work: str) -> None:
    from components.image_checks import executor as checks
    from components.image_checks import ops as check_ops
    from components.image_example_gen import beam_io, component, listing, ops
    from contracts import files

    paths = sorted(glob.glob(os.path.join(data, "*", "*")))
    rel = [os.path.relpath(p, data) for p in paths]
    payloads = []
    for path in paths:
        with open(path, "rb") as f:
            payloads.append(f.read())
    rule = listing.split_rules(component.default_input_config(), component.default_output_config())
    rule = rule[component.default_input_config().splits[0].pattern]

    start = _cpu()
    infos = []
    for i in range(0, len(payloads), beam_io.CHECK_BATCH):
        infos += ops.check_images(payloads[i : i + beam_io.CHECK_BATCH], ops.ImageLimits())
    built = [
        ops.build_example(p, info, 0, r.split("/")[0])
        for p, info, r in zip(payloads, infos, rel, strict=True)
    ]
    base = _cpu() - start

    start = _cpu()
    lines = [
        listing.listing_line(r, info.sha256, rule.split_of(ex), r.split("/")[0])
        for r, info, ex in zip(rel, infos, built, strict=True)
    ]
    line_cpu = _cpu() - start

    with open(os.path.join(work, listing.LISTING_PREFIX + "x.jsonl"), "w") as f:
        f.write("".join(lines))  # what the Beam stage stages
    start = _cpu()
    listing.write_listing(work, work)
    gather_cpu = _cpu() - start
    size = os.path.getsize(os.path.join(work, files.EXAMPLE_LISTING_FILE))

    records = [
        check_ops.ImageRecord(r.split("/")[0], info.height, info.width, info.channels, info.sha256)
        for r, info in zip(rel, infos, strict=True)
    ]
    read = {}
    for name, splits in (
        ("none repeats", {"train": records}),
        ("all repeat", {"a": records, "b": records}),
    ):
        start = _cpu()
        checks.read_sources(work, splits)
        read[name] = _cpu() - start

    n = len(paths)
    print(f"{n} images under {data}; load {os.getloadavg()[0]:.1f}")
    print(f"check + build (baseline)      {base:6.2f} s CPU  1.000")
    for name, cpu in (("split + line", line_cpu), ("gather, sort, gzip", gather_cpu)):
        print(f"listing: {name:<21}{cpu:6.2f} s CPU  {cpu / base:.3f}")
    for name, cpu in read.items():
        print(f"ImageChecks read, {name:<12}{cpu:6.2f} s CPU  {cpu / base:.3f}")
    print(f"listing: {size / 1e6:.2f} MB gzip ({sum(map(len, lines)) / 1e6:.2f} MB of lines)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="class-per-folder tree (default: --count digits written)")
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    data = args.data
    with tempfile.TemporaryDirectory(prefix="example-listing-") as work:
        if not data:
            import digits

            data = os.path.join(work, "digits")
            images, labels, _ = digits.make_digits(args.count)
            digits.write_tree(data, images, labels)
        os.makedirs(os.path.join(work, "listing"))
        _measure(data, os.path.join(work, "listing"))


if __name__ == "__main__":
    main()
