"""The ``eligo synth`` subcommand (registered by ``eligo.cli``)."""

import json
import sys
import time
from pathlib import Path

__all__ = ["add_parser"]

SWEEP_N_REC = (8, 16, 32)
SWEEP_LANES = (1, 4)


def cmd_synth(args):
    from eligo.config import load
    from eligo.synth.boards import BOARDS
    from eligo.synth.flow import check_budget, check_seeds, report_markdown, synthesize
    check_seeds(args.seed)  # (before any build)
    out_dir = Path(args.out)
    if args.sweep:
        return _sweep(args, out_dir)
    cfg = load(args.preset)
    boards = list(BOARDS) if args.board == "all" else [args.board]
    reports, problems = [], []
    for board in boards:
        print(f">>> eligo synth: {args.preset} on {BOARDS[board].title}", flush=True)
        name = args.preset + (f"_lanes{args.lanes}" if args.lanes > 1 else "")
        report = synthesize(cfg, args.preset, board, out_dir / f"{name}_{board}",
                            clock_hz=args.clock_mhz and args.clock_mhz * 1e6,
                            seed=args.seed, lanes=args.lanes, router=args.router,
                            out=lambda line: print(line, flush=True))
        reports.append(report)
        problems += check_budget(report)
    table = report_markdown(reports)
    print(table)
    (out_dir / f"{args.preset}.md").write_text(table)
    (out_dir / f"{args.preset}.json").write_text(json.dumps(reports, indent=2) + "\n")
    for r in reports:
        if not r["fits"]:
            print(f"note: {r['preset']} does not fit {r['device']}: "
                  + ", ".join(f"{k.upper()} {v['used']}/{v['available']}"
                              for k, v in r["resources"].items() if v.get("available")))
    if problems:
        for p in problems:
            print(f"eligo: error: budget regression: {p}", file=sys.stderr)
        return 1
    return 0


def _sweep(args, out_dir):
    """n_rec and lanes (and the board family) against resources and Fmax."""
    from eligo.config import preset
    from eligo.synth.boards import BOARDS
    from eligo.synth.flow import synthesize
    boards = list(BOARDS) if args.board == "all" else [args.board]
    rows = []
    for board in boards:
        for lanes in args.sweep_lanes:
            for n_rec in args.sweep_n_rec:
                cfg = preset("tiny", n_rec=n_rec, n_alif=n_rec // 2)
                start = time.perf_counter()
                print(f">>> sweep: n_rec={n_rec}, {lanes} lanes on {board}", flush=True)
                r = synthesize(cfg, f"tiny_n{n_rec}", board,
                               out_dir / "sweep" / f"n{n_rec}_l{lanes}_{board}", lanes=lanes,
                               seed=args.seed, router=args.router,
                               out=lambda line: print(line, flush=True))
                r["n_rec"] = n_rec
                rows.append(r)
                print(f"    {time.perf_counter() - start:.0f} s", flush=True)
    (out_dir / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| board | n_rec | lanes | LUT | FF | BRAM | DSP | Fmax (MHz) | fits |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        res = r["resources"]
        get = lambda k: res.get(k, {}).get("used", "-")
        lines.append(f"| {r['board']} | {r['n_rec']} | {r['lanes']} | {get('lut')} | "
                     f"{get('ff')} | {get('bram')} | {get('dsp')} | {r['fmax_sync_mhz']} | "
                     f"{'yes' if r['fits'] else 'no'} |")
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for board in boards:
        for lanes in args.sweep_lanes:
            sel = [r for r in rows if r["board"] == board and r["lanes"] == lanes]
            label = f"{board}, {lanes} lane{'s' * (lanes > 1)}"
            ax1.plot([r["n_rec"] for r in sel], [r["resources"]["lut"]["used"] for r in sel],
                     "o-", label=label)
            ax2.plot([r["n_rec"] for r in sel], [r["fmax_sync_mhz"] or 0 for r in sel],
                     "o-", label=label)
    ax1.set(xlabel="n_rec", ylabel="LUT / LC", title="resources")
    ax2.set(xlabel="n_rec", ylabel="MHz", title="Fmax")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "sweep.png", dpi=120)
    print(f"wrote {out_dir / 'sweep.md'} and {out_dir / 'sweep.png'}")
    return 0


def add_parser(sub, fmt, lanes_arg):
    """``lanes_arg``: the argparse type of a lanes value (shared with ``eligo sim``)."""
    from eligo.synth.boards import BOARDS
    from eligo.synth.flow import ROUTERS
    p = sub.add_parser(
        "synth", formatter_class=fmt, help="build a bitstream and report resources and Fmax",
        description="Build the board top (the core behind the UART link) for a preset with the "
                    "YoWASP yosys/nextpnr tools, write report.json and report.md (LUT, FF, "
                    "block RAM, DSP, Fmax per clock, build times) and compare them with the "
                    "budget in synth/budgets.json: exit status 1 on a regression.")
    p.add_argument("--preset", default="ice40", help="preset or configuration file "
                                                     "(default: ice40)")
    p.add_argument("--board", default="icebreaker", choices=[*BOARDS, "all"])
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="the core's clock (PLL output; default: the board's)")
    p.add_argument("--out", default="build/synth", help="build folder (default: build/synth)")
    p.add_argument("--lanes", type=lanes_arg, default=1,
                   help="the core's lanes (default: 1)")
    p.add_argument("--seed", type=int, nargs="+", default=[1], metavar="SEED",
                   help="nextpnr's placement seed (default: 1; the budgets are measured with "
                        "1); with several, one place and route per seed (as many at a time "
                        "as there are cores), the fastest kept and each one's Fmax reported")
    p.add_argument("--router", choices=ROUTERS, default=None,
                   help="nextpnr's router (default: the one the budget of the preset, board "
                        "and lanes was measured with, router1 where it names none)")
    p.add_argument("--sweep", action="store_true",
                   help="scaling table and plot: n_rec and lanes against resources and Fmax")
    p.add_argument("--sweep-n-rec", type=int, nargs="+", default=list(SWEEP_N_REC),
                   metavar="N", help=f"n_rec values of --sweep (default: {SWEEP_N_REC})")
    p.add_argument("--sweep-lanes", type=lanes_arg, nargs="+", default=list(SWEEP_LANES),
                   metavar="L", help=f"lanes values of --sweep (default: {SWEEP_LANES})")
    p.set_defaults(func=cmd_synth)
