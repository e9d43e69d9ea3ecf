"""The warm runner a Dask worker keeps for its lifetime (imported on workers only).

A local batch forks every run of its gradings from one warm runner
(:class:`~ipcgrader.warm.WarmRunner`); a Dask worker, which grades for one batch after
another, keeps one the same way (:class:`~ipcgrader.warm.KeptRunner`), made at its first
grading and closed when the worker closes. That close is a :class:`WorkerPlugin` the
worker adds to itself at that first grading: nothing is registered on the scheduler,
which may serve workers without ipcgrader (a plugin registered there is unpickled by
every worker that joins, and one without ipcgrader could not start). A worker that is
killed instead closes nothing: its warm interpreters see their socket's end go and end
once their runs have answered (:mod:`ipcgrader.warm`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from distributed import WorkerPlugin
from distributed.utils import sync

from ipcgrader import sandbox
from ipcgrader.warm import KeptRunner

#: The plugin's name among the worker's plugins.
NAME = "ipcgrader-warm-runner"

_INSTALL = threading.Lock()


class KeptRunnerPlugin(WorkerPlugin):
    """Holds the worker's :class:`~ipcgrader.warm.KeptRunner`; closes it with the worker."""

    idempotent = True

    def __init__(self) -> None:
        self.runner = KeptRunner(sandbox.warm_runner)

    async def teardown(self, worker: Any) -> None:
        """The worker closes: stop its warm interpreters, off its event loop (each is
        waited for until the runs it made have answered)."""
        await asyncio.get_running_loop().run_in_executor(None, self.runner.close)


def kept_runner(worker: Any) -> KeptRunner:
    """``worker``'s kept runner, the plugin that holds it added at the first call (from a
    task's thread: the plugin is added on the worker's event loop)."""
    with _INSTALL:
        plugin = worker.plugins.get(NAME)
        if not isinstance(plugin, KeptRunnerPlugin):
            plugin = KeptRunnerPlugin()
            sync(worker.loop, worker.plugin_add, plugin=plugin, name=NAME)
    return plugin.runner


def runner_report(dask_worker: Any) -> dict[str, int]:
    """What the kept runner of ``dask_worker`` did: runners made, gradings, warm
    interpreters started, runs forked (zeros before its first grading). For
    ``client.run(runner_report)``, which passes each worker as ``dask_worker``."""
    plugin = dask_worker.plugins.get(NAME)
    if not isinstance(plugin, KeptRunnerPlugin):
        return {"runners": 0, "gradings": 0, "launched": 0, "forked": 0}
    return plugin.runner.report()
