"""bench balance on a tiny set: one 2-s choreographed stepping dance and the double-support squats;
the counts cover the stepping dances only, and the squats stand on the feed-forward alone."""
from types import SimpleNamespace

from dancemosaic_core.cli.benchmarks.balance import DOUBLE_SUPPORT, run


def test_bench_balance_counts_stepping_dances_and_reports_every_mode():
    out = run(SimpleNamespace(robot="g1", dances=1, seconds=2.0, song_seconds=0.0, push=40.0,
                              feedforward_scale=None, dynamics_passes=0))
    dances = out["dances"]
    assert set(dances) == {"Hiphop@100bpm", DOUBLE_SUPPORT}
    assert dances["Hiphop@100bpm"]["steps"] and not dances[DOUBLE_SUPPORT]["steps"]
    assert out["stepping_dances"] == 1 and out["feedforward_scale"] == 1.0
    modes = ("sim_unbalanced_open_loop", "sim_unbalanced_stabilized", "sim_balanced_open_loop",
             "sim_balanced_stabilized", "sim_balanced_open_loop_feedforward", "sim_balanced_stabilized_feedforward")
    for entry in dances.values():
        for mode in modes:
            standing = entry[mode]["seconds_standing"]
            assert 0 < standing <= entry["seconds"] + 1e-9
            assert entry[mode]["fell"] == (standing < entry["seconds"] - 1e-9)
        assert entry["zmp_balanced"]["zmp_margin_window_mean_m"] is not None
    assert set(out["stepping_dances_stood_whole_dance"]) == set(modes)
    assert all(0 <= n <= 1 for n in out["stepping_dances_stood_whole_dance"].values())
    squats = dances[DOUBLE_SUPPORT]
    assert not squats["sim_balanced_open_loop_feedforward"]["fell"]
    assert squats["joint_rms_change_rad"] < 0.01          # both feet down: balancing changes little
