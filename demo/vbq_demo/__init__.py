"""``vbq demo``: the whole pipeline on one machine, with local emulators and no Google account.

:func:`run_demo` starts Redis (unless one is given), the Vertex, Pub/Sub and storage
emulators, workers, beat with the outbox relay and a subscriber running the built-in actions;
submits a mix of custom-model and Gemini jobs with realistic failures, a 429 storm and a
chained second stage; shows live progress; prints a summary with checks; and stops every
process it started (also on Ctrl-C and SIGTERM).
"""

from vbq_demo.monitor import Monitor, Snapshot
from vbq_demo.report import Check, DemoReport, build_report
from vbq_demo.run import DemoOptions, run_demo
from vbq_demo.stack import DemoStack, StackOptions
from vbq_demo.supervisor import Child, Supervisor, free_port

__all__ = [
    "Check",
    "Child",
    "DemoOptions",
    "DemoReport",
    "DemoStack",
    "Monitor",
    "Snapshot",
    "StackOptions",
    "Supervisor",
    "build_report",
    "free_port",
    "run_demo",
]
