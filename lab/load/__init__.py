"""Load testing: YCSB-style workloads, closed and open loop, ramps, baselines and sign-off gates.

::

    distributions.py  YCSB's uniform / zipfian / scrambled zipfian key choosers (seeded)
    workloads.py      the A/B/C/F/W mixes and the pre-generated operation plan of a run
    targets.py        cheap HTTP clients for Aspen and etcd (one session, leader following)
    engine.py         closed loop, open loop (latency from the intended start), ramp
    results.py        results.json: per-workload numbers and the machine they ran on
    gates.py          baselines and the sign-off gates that compare a run with one
    report.py         report.html (jinja2 + matplotlib)
    cluster.py        a local 3-node Aspen or etcd cluster for a load run or the bench
    config.py         LoadConfig: one run's settings, typed and checked
    run.py            the run: cluster, load phase, workloads, results, report, baseline
    progress.py       the live line per phase on a terminal
    cli.py            ``aspen-lab load``: the command line -> LoadConfig -> run.py
    bench.py          ``python -m lab.load.bench`` (``nox -s bench``)
"""
