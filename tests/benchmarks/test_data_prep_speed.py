"""The data-prep benchmark on a small slice of this machine's text: its checks hold and its figure is what it says."""
import statistics

from benchmarks.data_prep_speed import TARGET_MB_PER_CPU_SECOND, run_benchmark


def test_small_benchmark_checks_the_peer_and_reports_the_median_of_its_repeats():
    result = run_benchmark(megabytes=0.3, processes=2, peer_megabytes=0.1, repeats=3)
    assert result["corpus"]["repeated"] is False and result["corpus"]["mb"] > 0.1
    runs = result["text_to_tfrecords"]
    assert runs["identical_across_process_counts_and_repeats"] is True
    one = runs["processes_1"]
    each = one["repeats"]["cpu_seconds_each"]
    assert len(each) == 3 and one["cpu_seconds"] == statistics.median(each)
    # the figure divides the unrounded megabytes, which the JSON gives to 3 decimals: within that rounding of mb/cpu
    mb, cpu = one["mb"], one["cpu_seconds"]
    assert round((mb - 5e-4) / cpu, 2) <= one["mb_per_cpu_second_per_process"] <= round((mb + 5e-4) / cpu, 2)
    assert runs["processes_2"]["num_processes"] == 2 and runs["processes_2"]["sequences"] == one["sequences"]
    peer = result["peer"]
    assert peer["ids_equal"] is True and peer["tfrecords_identical"] is True and peer["sentences"] > 0
    target = result["targets"]["mb_per_cpu_second_per_process"]
    assert target["target"] == TARGET_MB_PER_CPU_SECOND and target["measured"] == one["mb_per_cpu_second_per_process"]
    assert result["machine"]["cpu"]["logical_cpus"] >= 1
