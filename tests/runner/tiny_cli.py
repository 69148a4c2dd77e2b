"""`cxrbench` as a user runs it, with the tiny test tasks (conftest.TINY) in place of the shipped ones:

    python tests/runner/tiny_cli.py TASKS_FOLDER evaluate SUBMISSION -t tiny/supplement-100 ...

The tasks are written to TASKS_FOLDER by the test; everything else is the real console entry point."""

import sys

if __name__ == "__main__":
    import cxrbench.tasking as tasking

    folder = sys.argv.pop(1)
    real = tasking.load_tasks
    tasking.load_tasks = lambda folder_=None: real(folder)
    sys.argv[0] = "cxrbench"
    from cxrbench.cli import main

    main()
