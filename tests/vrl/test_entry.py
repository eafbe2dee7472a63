"""vrl.entry.exit_without_teardown: a finished `vrl` process ends at once, losing nothing."""

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_exit_handlers_run_buffered_output_arrives_and_the_code_is_kept():
    done = _run(
        """
        import atexit, sys
        from vrl import entry
        atexit.register(lambda: print("exit handler ran"))
        sys.stdout.write("buffered, no newline")
        sys.stderr.write("to stderr")
        entry.exit_without_teardown(3)
        print("not reached")
        """
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newlineexit handler ran\n"
    assert done.stderr == "to stderr"


def test_a_running_non_daemon_thread_gets_the_normal_exit():
    done = _run(
        """
        import sys, threading, time
        from vrl import entry
        def work():
            time.sleep(0.5)
            print("thread finished")
        threading.Thread(target=work).start()
        entry.exit_without_teardown(3)
        print("returned")
        sys.exit(4)
        """
    )
    assert done.returncode == 4
    assert done.stdout.split() == ["returned", "thread", "finished"]


def test_a_real_vrl_process_exits_with_its_commands_code_and_full_output(tmp_path):
    # `vrl data shapes` runs in under a second (no TensorFlow); its summary line is
    # the last thing it prints, so a lost buffer would show here.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrl",
            "data",
            "shapes",
            "--out",
            str(tmp_path / "d"),
            "--per-class",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("}")
